"""Predictive distributions of a day's CLI maximum, and bracket probabilities from them.

Every distribution describes the continuous (unrounded) maximum T; the settled value is the
whole degree round(T), so a bracket's YES region is [lowest - 0.5, highest + 0.5) (see
:mod:`milkbot.domain.brackets`). Pure computation: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from scipy.special import stdtr

from milkbot.domain.brackets import Bracket, is_partition
from milkbot.errors import DataError


@runtime_checkable
class PredictiveDistribution(Protocol):
    """A predictive distribution of the unrounded daily maximum (degF)."""

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        ...


@dataclass(frozen=True, slots=True)
class Gaussian:
    """Normal distribution N(mean, sd^2)."""

    mean: float
    sd: float

    def __post_init__(self) -> None:
        if not self.sd > 0:
            raise DataError(f"sd must be positive, got {self.sd}")

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        return 0.5 * math.erfc(-(x - self.mean) / (self.sd * math.sqrt(2.0)))


@dataclass(frozen=True, slots=True)
class StudentT:
    """Location-scale Student-t distribution (heavy tails)."""

    loc: float
    scale: float
    df: float

    def __post_init__(self) -> None:
        if not (self.scale > 0 and self.df > 0):
            raise DataError(f"scale and df must be positive, got {self.scale}, {self.df}")

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        return float(stdtr(self.df, (x - self.loc) / self.scale))


@dataclass(frozen=True, slots=True)
class Mixture:
    """Finite mixture: sum of weight_i * F_i; weights are normalised to sum 1."""

    components: tuple[PredictiveDistribution, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.components or len(self.components) != len(self.weights):
            raise DataError("a mixture needs one weight per component")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise DataError("mixture weights must be non-negative and not all zero")

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        total = sum(self.weights)
        return sum(w * c.cdf(x) for c, w in zip(self.components, self.weights, strict=True)) / total


@dataclass(frozen=True, slots=True)
class MaxOf:
    """Distribution of max(A, B) for independent A and B: F(x) = F_A(x) * F_B(x)."""

    first: PredictiveDistribution
    second: PredictiveDistribution

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        return self.first.cdf(x) * self.second.cdf(x)


@dataclass(frozen=True, slots=True)
class TruncatedBelow:
    """A distribution conditioned on T >= lower (the running maximum already observed)."""

    base: PredictiveDistribution
    lower: float

    def cdf(self, x: float) -> float:
        """P(T <= x | T >= lower)."""
        if x < self.lower:
            return 0.0
        below = self.base.cdf(self.lower)
        if below >= 1.0 - 1e-12:
            return 1.0
        return min(1.0, max(0.0, (self.base.cdf(x) - below) / (1.0 - below)))


@dataclass(frozen=True, slots=True)
class Empirical:
    """Kernel-dressed sample: an equal-weight mixture of N(sample_i, bandwidth^2)."""

    samples: tuple[float, ...]
    bandwidth: float

    def __post_init__(self) -> None:
        if not self.samples:
            raise DataError("an empirical distribution needs at least one sample")
        if not self.bandwidth > 0:
            raise DataError("bandwidth must be positive")

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        denom = self.bandwidth * math.sqrt(2.0)
        return sum(0.5 * math.erfc(-(x - s) / denom) for s in self.samples) / len(self.samples)


@dataclass(frozen=True, slots=True)
class Histogram:
    """Piecewise-uniform distribution over contiguous cells [edges[i], edges[i+1]).

    The outer cells may be open (-inf / inf); their mass is spread as an exponential tail of
    scale ``tail_scale`` beyond the finite edge. Used to turn bracket prices into a CDF.
    """

    edges: tuple[float, ...]
    masses: tuple[float, ...]
    tail_scale: float = 2.0

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.masses) + 1:
            raise DataError("a histogram needs len(masses) + 1 edges")
        if any(m < 0 for m in self.masses) or sum(self.masses) <= 0:
            raise DataError("histogram masses must be non-negative and not all zero")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise DataError("histogram edges must increase")

    def cdf(self, x: float) -> float:
        """P(T <= x)."""
        total = sum(self.masses)
        acc = 0.0
        n = len(self.masses)
        for i in range(n):
            lo, hi, m = self.edges[i], self.edges[i + 1], self.masses[i] / total
            if x >= hi:
                acc += m
                continue
            if x <= lo and not math.isinf(lo):
                break
            if math.isinf(lo):
                acc += m * math.exp(min(0.0, (x - hi) / self.tail_scale))
            elif math.isinf(hi):
                acc += m * (1.0 - math.exp(-(x - lo) / self.tail_scale))
            else:
                acc += m * (x - lo) / (hi - lo)
            break
        return min(1.0, max(0.0, acc))


def bracket_probabilities(
    dist: PredictiveDistribution, brackets: Sequence[Bracket], *, floor: float = 0.0
) -> list[float]:
    """Return P(YES) of each bracket under ``dist`` with the +-0.5 degF rounding.

    For a partition (a modern six-bracket event) the probabilities are normalised to sum 1
    exactly. Other sets (2021-22 threshold markets) are computed bracket by bracket.
    ``floor`` clips every probability from below before normalising (keeps log loss finite).
    """
    raw = [max(floor, b.probability(dist.cdf)) for b in brackets]
    if brackets and is_partition(brackets):
        total = sum(raw)
        if total <= 0:
            raise DataError("distribution gives zero mass to every bracket")
        return [p / total for p in raw]
    return [min(1.0, p) for p in raw]


def quantile(dist: PredictiveDistribution, q: float, lo: float = -80.0, hi: float = 160.0) -> float:
    """Return the q-quantile of ``dist`` by bisection (to 1e-4 degF)."""
    if not 0.0 < q < 1.0:
        raise DataError(f"quantile level must be in (0, 1), got {q}")
    while dist.cdf(lo) > q:
        lo -= 100.0
    while dist.cdf(hi) < q:
        hi += 100.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if dist.cdf(mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-4:
            break
    return 0.5 * (lo + hi)


def mid_pit(dist: PredictiveDistribution, settled: int) -> float:
    """Probability integral transform of a whole-degree outcome (midpoint of its cell)."""
    return 0.5 * (dist.cdf(settled - 0.5) + dist.cdf(settled + 0.5))
