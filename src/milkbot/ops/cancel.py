"""``milkbot cancel-all``: cancel every resting order, asking the exchange (not local state).

The exchange's own list of resting orders is the truth: the local database may be behind
(a crash, a lost response). Cancels go out in batches; afterwards the exchange is asked
again, so the report says what is still resting, if anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from milkbot.domain.portfolio import OrderAck, OrderReport, VenueOrderStatus
from milkbot.errors import ConfigError, UpstreamError
from milkbot.logging import get_logger

log = get_logger(__name__)

DEFAULT_CHUNK = 20
"""Orders per batch cancel: 40 write tokens, inside the Basic tier's 100-token bucket."""


class CancelVenue(Protocol):
    """The two exchange calls ``cancel-all`` needs (``KalshiClient`` has them)."""

    async def get_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
    ) -> list[OrderReport]:
        """Our orders, filtered."""
        ...

    async def batch_cancel_orders(self, order_ids: Sequence[str]) -> list[OrderAck]:
        """Cancel several orders in one request."""
        ...


@dataclass
class CancelReport:
    """What ``cancel-all`` found, cancelled, failed on, and what still rests afterwards."""

    found: list[OrderReport] = field(default_factory=list)
    cancelled: list[OrderAck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    remaining: list[OrderReport] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing is left resting (always True for a dry run)."""
        return self.dry_run or (not self.errors and not self.remaining)


async def _resting(
    venue: CancelVenue, ticker: str | None, event_ticker: str | None
) -> list[OrderReport]:
    orders = await venue.get_orders(
        ticker=ticker, event_ticker=event_ticker, status=VenueOrderStatus.RESTING.value
    )
    return [o for o in orders if o.status is VenueOrderStatus.RESTING]


async def cancel_all(
    venue: CancelVenue,
    *,
    ticker: str | None = None,
    event_ticker: str | None = None,
    chunk: int = DEFAULT_CHUNK,
    dry_run: bool = False,
) -> CancelReport:
    """Cancel every resting order on the exchange (optionally of one market or event).

    A failed batch (rejected, or outcome unknown) is recorded and the others still go out;
    the final read of resting orders shows the truth either way.
    """
    if chunk < 1:
        raise ConfigError("--chunk must be at least 1")
    report = CancelReport(dry_run=dry_run)
    report.found = await _resting(venue, ticker, event_ticker)
    if dry_run:
        report.remaining = list(report.found)
        return report
    ids = [o.order_id for o in report.found]
    for start in range(0, len(ids), chunk):
        batch = ids[start : start + chunk]
        try:
            acks = await venue.batch_cancel_orders(batch)
        except UpstreamError as e:
            report.errors.append(f"batch of {len(batch)} ({batch[0]}...): {e}")
            log.warning("cancel_all.batch_failed", orders=len(batch), error=str(e))
            continue
        for ack in acks:
            if ack.ok:
                report.cancelled.append(ack)
            else:
                report.errors.append(f"{ack.order_id}: {ack.error_code} {ack.error_message or ''}")
    report.remaining = await _resting(venue, ticker, event_ticker)
    log.warning(
        "cancel_all",
        found=len(report.found),
        cancelled=len(report.cancelled),
        errors=len(report.errors),
        remaining=len(report.remaining),
    )
    return report


def _order_line(o: OrderReport) -> str:
    return (
        f"{o.order_id}  {o.ticker}  {o.action.value} {o.side.value} {o.remaining} "
        f"@ {o.price}  client {o.client_order_id}"
    )


def render_cancel(report: CancelReport) -> str:
    """The human-readable report of :func:`cancel_all`."""
    lines: list[str] = []
    by_id = {o.order_id: o for o in report.found}
    if report.dry_run:
        lines.append(f"dry run: {len(report.found)} resting order(s), nothing cancelled")
        lines.extend("  " + _order_line(o) for o in report.found)
        return "\n".join(lines)
    lines.append(f"{len(report.found)} resting order(s) on the exchange")
    for ack in report.cancelled:
        order = by_id.get(ack.order_id)
        what = _order_line(order) if order is not None else ack.order_id
        lines.append(f"  cancelled {what}  (reduced by {ack.reduced_by})")
    lines.extend(f"  FAILED {e}" for e in report.errors)
    if report.remaining:
        lines.append(f"{len(report.remaining)} order(s) still resting:")
        lines.extend("  " + _order_line(o) for o in report.remaining)
    else:
        lines.append("no resting orders left")
    return "\n".join(lines)
