"""Bracket semantics and probabilities with the +-0.5 rounding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milkbot.domain.brackets import Bracket, StrikeType, is_partition, winning_index
from milkbot.errors import DataError


def _event(low: int) -> list[Bracket]:
    """A modern six-market event: two tails and four 2-degree bins."""
    return [
        Bracket.from_strikes("less", None, low),
        *[Bracket.from_strikes("between", low + 2 * i, low + 2 * i + 1) for i in range(4)],
        Bracket.from_strikes("greater", low + 7, None),
    ]


def _normal_cdf(mu: float, sigma: float):
    return lambda x: 0.5 * (1 + math.erf((x - mu) / (sigma * math.sqrt(2))))


def test_kalshi_semantics() -> None:
    b = Bracket.from_strikes("between", 49.0, 50.0)
    assert [b.contains(v) for v in (48, 49, 50, 51)] == [False, True, True, False]
    assert Bracket.from_strikes("greater", 54, None).contains(55)
    assert not Bracket.from_strikes("greater", 54, None).contains(54)
    assert Bracket.from_strikes("less", None, 47).contains(46)
    assert not Bracket.from_strikes("less", None, 47).contains(47)
    assert b.label() == "49° to 50°"
    assert Bracket.from_strikes("less", None, 47).label() == "46° or below"
    assert Bracket.from_strikes("greater", 54, None).label() == "55° or above"
    assert b.continuous_bounds() == (48.5, 50.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("between", None, 50), "needs"),
        (("between", 51, 50), "above"),
        (("sideways", 1, 2), "unknown"),
        (("between", 49.5, 50), "whole"),
    ],
)
def test_malformed_strikes_raise(args: tuple, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Bracket.from_strikes(*args)


@given(low=st.integers(-20, 110), mu=st.floats(-30, 130), sigma=st.floats(0.3, 15))
def test_event_probabilities_sum_to_one(low: int, mu: float, sigma: float) -> None:
    brackets = _event(low)
    assert is_partition(brackets)
    probs = [b.probability(_normal_cdf(mu, sigma)) for b in brackets]
    assert all(0 <= p <= 1 for p in probs)
    assert math.isclose(sum(probs), 1.0, abs_tol=1e-9)


@given(low=st.integers(-20, 110), value=st.integers(-60, 160))
def test_exactly_one_bracket_wins(low: int, value: int) -> None:
    brackets = _event(low)
    idx = winning_index(brackets, value)
    assert idx is not None and brackets[idx].contains(value)


def test_threshold_events_are_not_partitions() -> None:
    assert not is_partition([Bracket.from_strikes("greater", 81, None)])
    assert not is_partition(
        [Bracket(StrikeType.LESS, None, 50), Bracket(StrikeType.GREATER, 52, None)]
    )
    with pytest.raises(DataError, match="overlap"):
        winning_index(
            [Bracket.from_strikes("greater", 50, None), Bracket.from_strikes("greater", 48, None)],
            55,
        )
