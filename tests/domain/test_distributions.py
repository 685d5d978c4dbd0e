"""Predictive distributions and bracket probabilities."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import six_brackets

from milkbot.domain.brackets import Bracket
from milkbot.domain.distributions import (
    Empirical,
    Gaussian,
    Histogram,
    MaxOf,
    Mixture,
    StudentT,
    TruncatedBelow,
    bracket_probabilities,
    mid_pit,
    quantile,
)
from milkbot.errors import DataError

SIX = six_brackets()


def test_gaussian_cdf_matches_known_values() -> None:
    g = Gaussian(50.0, 2.0)
    assert g.cdf(50.0) == pytest.approx(0.5)
    assert g.cdf(52.0) == pytest.approx(0.841344746, abs=1e-8)


def test_student_t_has_heavier_tails_than_gaussian() -> None:
    t, g = StudentT(0.0, 1.0, 5.0), Gaussian(0.0, 1.0)
    assert t.cdf(0.0) == pytest.approx(0.5)
    assert t.cdf(-4.0) > g.cdf(-4.0)


def test_bracket_probabilities_use_half_degree_edges() -> None:
    g = Gaussian(50.0, 2.0)
    probs = bracket_probabilities(g, SIX)
    assert probs[0] == pytest.approx(g.cdf(46.5))
    assert probs[2] == pytest.approx(g.cdf(50.5) - g.cdf(48.5))
    assert probs[5] == pytest.approx(1 - g.cdf(54.5))


@settings(max_examples=60, deadline=None)
@given(
    mean=st.floats(20, 110),
    sd=st.floats(0.3, 12),
    df=st.floats(1.5, 30),
    weight=st.floats(0.0, 1.0),
)
def test_partition_probabilities_sum_to_one(
    mean: float, sd: float, df: float, weight: float
) -> None:
    dist = Mixture((StudentT(mean, sd, df), Gaussian(mean + 3, sd)), (1 - weight + 1e-9, weight))
    probs = bracket_probabilities(dist, SIX, floor=1e-4)
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)
    assert all(0.0 <= p <= 1.0 for p in probs)


def test_threshold_events_are_not_normalised() -> None:
    over_81 = (Bracket.from_strikes("greater", 81, None), Bracket.from_strikes("less", None, 75))
    g = Gaussian(80.0, 3.0)
    probs = bracket_probabilities(g, over_81)
    assert probs[0] == pytest.approx(1 - g.cdf(81.5))
    assert probs[1] == pytest.approx(g.cdf(74.5))
    assert sum(probs) < 1.0


def test_truncated_below_has_no_mass_under_the_running_max() -> None:
    d = TruncatedBelow(Gaussian(50.0, 3.0), 52.5)
    assert d.cdf(52.0) == 0.0
    assert bracket_probabilities(d, SIX)[:3] == [0.0, 0.0, 0.0]
    assert d.cdf(200.0) == pytest.approx(1.0)


def test_max_of_independent_is_product_of_cdfs() -> None:
    a, b = Gaussian(50, 2), Gaussian(52, 1)
    assert MaxOf(a, b).cdf(51) == pytest.approx(a.cdf(51) * b.cdf(51))


def test_histogram_reproduces_cell_masses() -> None:
    edges = (-math.inf, 46.5, 48.5, 50.5, 52.5, 54.5, math.inf)
    masses = (0.05, 0.15, 0.4, 0.25, 0.1, 0.05)
    h = Histogram(edges, masses)
    probs = bracket_probabilities(h, SIX)
    assert probs == pytest.approx(list(masses))
    xs = [40 + 0.25 * i for i in range(100)]
    cdfs = [h.cdf(x) for x in xs]
    assert cdfs == sorted(cdfs)


def test_quantile_inverts_cdf() -> None:
    g = Gaussian(60.0, 4.0)
    assert quantile(g, 0.5) == pytest.approx(60.0, abs=1e-3)
    assert g.cdf(quantile(g, 0.9)) == pytest.approx(0.9, abs=1e-4)


def test_empirical_and_pit() -> None:
    e = Empirical((50.0, 52.0, 54.0), 1.0)
    assert e.cdf(52.0) == pytest.approx(0.5)
    assert 0.0 < mid_pit(e, 52) < 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Gaussian(1, 0),
        lambda: StudentT(1, -1, 5),
        lambda: Mixture((), ()),
        lambda: Empirical((), 1.0),
        lambda: Histogram((0.0, 1.0), (0.5, 0.5)),
    ],
)
def test_invalid_parameters_raise(make: object) -> None:
    with pytest.raises(DataError):
        make()  # type: ignore[operator]
