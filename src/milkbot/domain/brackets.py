"""Temperature brackets with Kalshi's strike semantics, and bracket probabilities.

A settled value V is a whole degF from the CLI report:

* ``between``: YES iff floor <= V <= cap (both inclusive)
* ``greater``: YES iff V > floor
* ``less``:    YES iff V < cap

For a continuous predictive distribution F of the (unrounded) maximum, the YES region of a
bracket is [floor - 0.5, cap + 0.5) for ``between``, [floor + 0.5, inf) for ``greater`` and
(-inf, cap - 0.5) for ``less``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from milkbot.errors import DataError


class StrikeType(StrEnum):
    """Kalshi's ``strike_type`` for temperature markets."""

    BETWEEN = "between"
    GREATER = "greater"
    LESS = "less"


@dataclass(frozen=True, slots=True)
class Bracket:
    """The YES set of one market, from ``strike_type``/``floor_strike``/``cap_strike``."""

    strike_type: StrikeType
    floor: int | None
    cap: int | None

    def __post_init__(self) -> None:
        st = self.strike_type
        if st is StrikeType.BETWEEN and (self.floor is None or self.cap is None):
            raise DataError("a 'between' bracket needs floor_strike and cap_strike")
        if (
            st is StrikeType.BETWEEN
            and self.floor is not None
            and self.cap is not None
            and self.floor > self.cap
        ):
            raise DataError(f"floor_strike {self.floor} above cap_strike {self.cap}")
        if st is StrikeType.GREATER and self.floor is None:
            raise DataError("a 'greater' bracket needs floor_strike")
        if st is StrikeType.LESS and self.cap is None:
            raise DataError("a 'less' bracket needs cap_strike")

    @classmethod
    def from_strikes(
        cls, strike_type: str, floor: float | int | None, cap: float | int | None
    ) -> Bracket:
        """Build a bracket from wire or CSV values; strikes must be whole degrees."""
        try:
            st = StrikeType(strike_type)
        except ValueError:
            raise DataError(f"unknown strike_type {strike_type!r}") from None
        return cls(st, _whole(floor), _whole(cap))

    def contains(self, value: int) -> bool:
        """Return whether a settled whole-degree value resolves this bracket YES."""
        if self.strike_type is StrikeType.BETWEEN:
            assert self.floor is not None and self.cap is not None
            return self.floor <= value <= self.cap
        if self.strike_type is StrikeType.GREATER:
            assert self.floor is not None
            return value > self.floor
        assert self.cap is not None
        return value < self.cap

    @property
    def lowest(self) -> int | None:
        """The lowest whole value in the YES set (None for an open lower tail)."""
        if self.strike_type is StrikeType.LESS:
            return None
        assert self.floor is not None
        return self.floor if self.strike_type is StrikeType.BETWEEN else self.floor + 1

    @property
    def highest(self) -> int | None:
        """The highest whole value in the YES set (None for an open upper tail)."""
        if self.strike_type is StrikeType.GREATER:
            return None
        assert self.cap is not None
        return self.cap if self.strike_type is StrikeType.BETWEEN else self.cap - 1

    def continuous_bounds(self) -> tuple[float, float]:
        """The YES region for an unrounded value: [lower, upper)."""
        lo, hi = self.lowest, self.highest
        return (-math.inf if lo is None else lo - 0.5, math.inf if hi is None else hi + 0.5)

    def probability(self, cdf: Callable[[float], float]) -> float:
        """P(YES) under a predictive CDF of the unrounded maximum."""
        lo, hi = self.continuous_bounds()
        upper = 1.0 if hi == math.inf else cdf(hi)
        lower = 0.0 if lo == -math.inf else cdf(lo)
        return min(1.0, max(0.0, upper - lower))

    def label(self) -> str:
        """Kalshi-style title: ``49° to 50°``, ``55° or above``, ``46° or below``."""
        lo, hi = self.lowest, self.highest
        if lo is None:
            return f"{hi}° or below"
        if hi is None:
            return f"{lo}° or above"
        return f"{lo}° to {hi}°"


def _whole(value: float | int | None) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value) != int(value):
        raise DataError(f"strike {value!r} is not a whole degree")
    return int(value)


def is_partition(brackets: Sequence[Bracket]) -> bool:
    """Return whether the brackets cover every whole degree exactly once.

    A modern event has one ``less`` tail, contiguous ``between`` bins and one ``greater``
    tail; 2021-22 threshold events are not partitions.
    """
    if not brackets:
        return False
    ordered = sorted(brackets, key=lambda b: -math.inf if b.lowest is None else b.lowest)
    if ordered[0].lowest is not None or ordered[-1].highest is not None:
        return False
    for left, right in itertools.pairwise(ordered):
        if left.highest is None or right.lowest is None or right.lowest != left.highest + 1:
            return False
    return True


def winning_index(brackets: Sequence[Bracket], value: int) -> int | None:
    """Index of the bracket that a settled value resolves YES, or None if none does."""
    hits = [i for i, b in enumerate(brackets) if b.contains(value)]
    if len(hits) > 1:
        raise DataError(f"brackets overlap at {value}")
    return hits[0] if hits else None
