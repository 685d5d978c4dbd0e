"""Reconciliation: make the local books agree with the exchange, and say where they did not.

A pass, in this order: resolve every order in flight by ``client_order_id``; bring every
local open order in line with the venue's record; apply the fills since the last checkpoint
(minus a margin) and the settlements; then compare positions and list the venue's resting
orders the trader does not know. Trading stays blocked until a pass finds no difference that
it could not repair (:attr:`ReconciliationReport.ok`). The report is saved in
``trader_state`` under ``reconciliation`` and the fill checkpoint under ``fills_checkpoint``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.clock import Clock
from milkbot.errors import OrderStateError, UpstreamError
from milkbot.logging import get_logger
from milkbot.oms.manager import OrderManager
from milkbot.oms.venue import ExecutionVenue
from milkbot.store.state import read_state, write_state

log = get_logger(__name__)

CHECKPOINT_MARGIN = timedelta(minutes=10)
REPORT_KEY = "reconciliation"
CHECKPOINT_KEY = "fills_checkpoint"


@dataclass
class ReconciliationReport:
    """What one pass found and repaired."""

    at: datetime
    ok: bool = False
    resolved_in_flight: int = 0
    orders_checked: int = 0
    fills_applied: int = 0
    settlements_applied: int = 0
    balance: Decimal | None = None
    mismatches: list[str] = field(default_factory=list)
    error: str = ""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for ``trader_state`` and the log."""
        return {
            "at": self.at.isoformat(),
            "ok": self.ok,
            "resolved_in_flight": self.resolved_in_flight,
            "orders_checked": self.orders_checked,
            "fills_applied": self.fills_applied,
            "settlements_applied": self.settlements_applied,
            "balance": None if self.balance is None else str(self.balance),
            "mismatches": list(self.mismatches),
            "error": self.error,
        }


async def _get_state(sessions: async_sessionmaker[AsyncSession], key: str) -> dict[str, Any]:
    async with sessions() as s:
        return await read_state(s, key)


async def _put_state(
    sessions: async_sessionmaker[AsyncSession], key: str, value: dict[str, Any], now: datetime
) -> None:
    async with sessions.begin() as s:
        await write_state(s, key, value, now)


class Reconciler:
    """Runs reconciliation passes for one manager and venue."""

    def __init__(
        self,
        manager: OrderManager,
        venue: ExecutionVenue,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
    ) -> None:
        self._manager = manager
        self._venue = venue
        self._sessions = sessions
        self._clock = clock
        self.last: ReconciliationReport | None = None

    async def run(self) -> ReconciliationReport:
        """One complete pass; never raises for a venue failure (the report says it)."""
        now = self._clock.now()
        report = ReconciliationReport(at=now)
        try:
            await self._pass(report)
        except (UpstreamError, OrderStateError) as e:
            report.error = str(e)
            report.ok = False
        self.last = report
        await _put_state(self._sessions, REPORT_KEY, report.to_record(), now)
        if report.mismatches or report.error:
            log.error(
                "alert_reconciliation_mismatch",
                mismatches=report.mismatches,
                error=report.error,
            )
        return report

    async def _position_differences(self) -> list[str]:
        local = await self._manager.positions()
        venue_pos = {p.ticker: p.position for p in await self._venue.get_positions()}
        out: list[str] = []
        for ticker in sorted(set(local) | {t for t, v in venue_pos.items() if v != 0}):
            mine, theirs = local.get(ticker, Decimal(0)), venue_pos.get(ticker, Decimal(0))
            if mine != theirs:
                out.append(f"position {ticker}: local {mine} venue {theirs}")
        return out

    async def _pass(self, report: ReconciliationReport) -> None:
        m = self._manager
        await m.load()
        before = [o.client_order_id for o in m.open_orders if o.state.in_flight]
        await m.resolve_in_flight()
        still = {o.client_order_id for o in m.open_orders if o.state.in_flight}
        report.resolved_in_flight = sum(1 for c in before if c not in still)

        # Every local open order against the venue's record of it.
        resting = await self._venue.get_orders(status="resting")
        by_coid = {o.client_order_id: o for o in resting}
        for view in m.open_orders:
            report.orders_checked += 1
            found = by_coid.get(view.client_order_id) or await m.find_at_venue(view)
            if found is None:
                if not view.state.in_flight:
                    report.mismatches.append(f"order {view.client_order_id} unknown to the venue")
                continue
            await m.apply_report(found)
        known = {o.client_order_id for o in m.open_orders}
        for o in resting:
            if o.client_order_id not in known:
                report.mismatches.append(
                    f"venue order {o.order_id} ({o.client_order_id or 'no client id'}) "
                    f"resting in {o.ticker} is not an open local order"
                )

        # Fills since the checkpoint, then settlements.
        checkpoint = await _get_state(self._sessions, CHECKPOINT_KEY)
        since = (
            datetime.fromisoformat(checkpoint["at"]) - CHECKPOINT_MARGIN
            if "at" in checkpoint
            else None
        )
        report.fills_applied = await m.sync_fills(since=since)
        for s in await self._venue.get_settlements(min_ts=since):
            if await m.apply_settlement(s):
                report.settlements_applied += 1

        # Positions: local (from fills) against the venue. A fill made between the fill read
        # and the position read shows up as a difference once: read the fills again before
        # calling it a mismatch.
        differences = await self._position_differences()
        if differences:
            report.fills_applied += await m.sync_fills(since=since)
            differences = await self._position_differences()
        report.mismatches += differences
        report.balance = (await self._venue.get_balance()).balance
        in_flight = [o.client_order_id for o in m.open_orders if o.state.in_flight]
        if in_flight:
            report.mismatches.append(f"{len(in_flight)} order(s) still in flight")
        report.ok = not report.mismatches
        await _put_state(
            self._sessions, CHECKPOINT_KEY, {"at": report.at.isoformat()}, self._clock.now()
        )
