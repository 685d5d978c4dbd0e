"""Cancel/replace policy for resting orders.

A resting order is kept while the decision behind it still holds. It is cancelled when its
event is about to close, when it has rested longer than its time to live, when the newest
decision no longer wants that leg, or when the newest decision's limit price moved beyond the
re-price threshold. A replacement is not sent here: the next decision orders what is then
missing (net of holdings), under a new intent id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from milkbot.errors import ConfigError
from milkbot.oms.manager import OrderView


class Verdict(StrEnum):
    """What to do with a resting order."""

    KEEP = "keep"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class ReplacePolicy:
    """Thresholds of the cancel/replace policy.

    Parameters
    ----------
    reprice_threshold : Decimal
        Cancel when the fair limit price moved this much (dollars) from the order's limit.
    time_to_live : timedelta
        Cancel an order resting longer than this.
    cancel_before_close : timedelta
        Cancel every resting order of an event this long before its close.
    """

    reprice_threshold: Decimal = Decimal("0.02")
    time_to_live: timedelta = timedelta(minutes=30)
    cancel_before_close: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.reprice_threshold <= 0:
            raise ConfigError("reprice_threshold must be positive")
        if self.time_to_live <= timedelta(0) or self.cancel_before_close < timedelta(0):
            raise ConfigError("time_to_live must be positive, cancel_before_close >= 0")

    def to_audit(self) -> dict[str, str]:
        """The thresholds for the OMS audit record."""
        return {
            "reprice_threshold": str(self.reprice_threshold),
            "time_to_live_s": str(int(self.time_to_live.total_seconds())),
            "cancel_before_close_s": str(int(self.cancel_before_close.total_seconds())),
        }

    def review(
        self,
        order: OrderView,
        *,
        now: datetime,
        close_time: datetime | None,
        fair_limit: Decimal | None,
    ) -> tuple[Verdict, str]:
        """Keep or cancel one open order; ``fair_limit`` is None when no leg wants it now."""
        if close_time is not None and now >= close_time - self.cancel_before_close:
            return Verdict.CANCEL, "close_near"
        if now - order.created_at >= self.time_to_live:
            return Verdict.CANCEL, "time_to_live"
        if fair_limit is None:
            return Verdict.CANCEL, "no_edge"
        if abs(fair_limit - order.limit_price) >= self.reprice_threshold:
            return Verdict.CANCEL, "reprice"
        return Verdict.KEEP, "holds"
