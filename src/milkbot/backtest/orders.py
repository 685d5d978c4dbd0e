"""Order routing of the backtest: the OMS's order manager, or a direct in-memory router.

:class:`OmsRouter` sends every approved order through :class:`~milkbot.oms.manager.OrderManager`
(the trader's: persisted before it is sent, one order per intent, fills applied once) on a
SQLite trading database of its own. :class:`DirectRouter` does the same bookkeeping in memory,
with the venue as the only record: the same requests, ids and cancels, without the database
round trips (the default: a months-long replay sends thousands of orders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from milkbot.backtest.venue import SimVenue
from milkbot.clock import Clock
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import (
    FillReport,
    OrderReport,
    SettlementReport,
)
from milkbot.oms.ids import client_order_id
from milkbot.oms.manager import OrderManager, OrderView, request_for
from milkbot.oms.states import OrderState
from milkbot.risk.engine import ApprovedOrder
from milkbot.venues.kalshi.client import KalshiRejection

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of one approved order."""

    client_order_id: str
    filled: Decimal
    rejected: str


class Router(Protocol):
    """What the backtest loop needs from order routing."""

    def open_orders(self) -> tuple[OrderView, ...]:
        """Orders that may still trade, oldest first."""
        ...

    async def submit(self, approved: ApprovedOrder, *, slot: str, reason: str) -> Submitted:
        """Send one approved order."""
        ...

    async def cancel(self, order: OrderView, reason: str) -> None:
        """Cancel the rest of one open order."""
        ...

    async def new_fills(self) -> list[FillReport]:
        """Fills not returned before, in time order."""
        ...

    async def settle(self, report: SettlementReport) -> None:
        """Apply one settlement to the router's books."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


def _fresh_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("milkbot*.db*"):
        old.unlink()


def _view(report: OrderReport, intent: str, created: datetime) -> OrderView:
    state = OrderState.PARTIALLY_FILLED if report.filled > 0 else OrderState.ACCEPTED
    return OrderView(
        client_order_id=report.client_order_id,
        intent_id=intent,
        venue_order_id=report.order_id,
        market_ticker=report.ticker,
        side=OutcomeSide(report.side.value),
        action=report.action,
        limit_price=report.price,
        count=report.count,
        filled=report.filled,
        state=state,
        created_at=created,
    )


@dataclass
class DirectRouter:
    """In-memory routing: one GTC order per intent id, the venue's record is the truth."""

    venue: SimVenue
    clock: Clock
    _intents: dict[str, str] = field(default_factory=dict)
    _created: dict[str, datetime] = field(default_factory=dict)
    _cursor: datetime | None = None
    _seen: set[str] = field(default_factory=set)

    def open_orders(self) -> tuple[OrderView, ...]:
        """The venue's resting orders as OMS order views."""
        out = []
        for o in self.venue.resting_reports():
            out.append(
                _view(o, self._intents.get(o.client_order_id, ""), self._created[o.client_order_id])
            )
        return tuple(sorted(out, key=lambda v: (v.created_at, v.client_order_id)))

    async def submit(self, approved: ApprovedOrder, *, slot: str, reason: str) -> Submitted:
        """Send the order; a repeated intent is skipped, as the OMS does."""
        del slot, reason
        intent = approved.intent
        coid = client_order_id(intent.intent_id)
        if coid in self._intents:
            return Submitted(coid, ZERO, "duplicate_intent")
        self._intents[coid] = intent.intent_id
        self._created[coid] = self.clock.now()
        req = request_for(intent)
        try:
            ack = await self.venue.create_order(req)
        except KalshiRejection as e:
            return Submitted(coid, ZERO, e.code)
        return Submitted(coid, ack.filled or ZERO, "")

    async def cancel(self, order: OrderView, reason: str) -> None:
        """Cancel at the venue."""
        del reason
        if order.venue_order_id is not None:
            await self.venue.cancel_order(order.venue_order_id, ticker=order.market_ticker)

    async def new_fills(self) -> list[FillReport]:
        """The venue's fills since the last call."""
        out = []
        for f in await self.venue.get_fills(min_ts=self._cursor):
            if f.fill_id in self._seen:
                continue
            self._seen.add(f.fill_id)
            out.append(f)
            self._cursor = f.ts
        return out

    async def settle(self, report: SettlementReport) -> None:
        """The venue's record is the only book: nothing to do."""
        del report

    async def close(self) -> None:
        """Nothing to release."""


class OmsRouter:
    """Routing through the trader's :class:`OrderManager` on its own SQLite database."""

    def __init__(self, manager: OrderManager, engine: AsyncEngine, venue: SimVenue) -> None:
        self.manager = manager
        self._engine = engine
        self._venue = venue
        self._cursor: datetime | None = None

    @classmethod
    async def create(cls, venue: SimVenue, clock: Clock, directory: Path) -> OmsRouter:
        """A freshly migrated trading database under ``directory`` and a manager on it."""
        from milkbot.settings import Settings
        from milkbot.store.engine import create_trading_engine, session_factory
        from milkbot.store.migrate import upgrade

        _fresh_directory(directory)
        settings = Settings(data_dir=directory, _env_file=None)
        upgrade(settings)
        engine = create_trading_engine(settings)
        return cls(OrderManager(venue, session_factory(engine), clock), engine, venue)

    def open_orders(self) -> tuple[OrderView, ...]:
        """The manager's open orders."""
        return self.manager.open_orders

    async def submit(self, approved: ApprovedOrder, *, slot: str, reason: str) -> Submitted:
        """Persist, then send (``OrderManager.submit``)."""
        audit: Mapping[str, Mapping[str, Any]] = {}
        out = await self.manager.submit(
            approved, strategy_run="backtest", slot=slot, reason=reason, audit=audit
        )
        if out.skipped:
            return Submitted(out.client_order_id, ZERO, out.skipped)
        if out.state is OrderState.REJECTED:
            return Submitted(out.client_order_id, ZERO, "rejected")
        filled = next(
            (
                o.filled
                for o in self.manager.open_orders
                if o.client_order_id == out.client_order_id
            ),
            approved.intent.count if out.state is OrderState.FILLED else ZERO,
        )
        return Submitted(out.client_order_id, filled, "")

    async def cancel(self, order: OrderView, reason: str) -> None:
        """``OrderManager.cancel``."""
        await self.manager.cancel(order.client_order_id, reason)

    async def new_fills(self) -> list[FillReport]:
        """Sync the venue's fills into the manager; return the ones it applied."""
        fills = await self._venue.get_fills(min_ts=self._cursor)
        if fills:
            self._cursor = fills[-1].ts
            await self.manager.apply_fills(fills)
        return self.manager.drain_new_fills()

    async def settle(self, report: SettlementReport) -> None:
        """``OrderManager.apply_settlement``."""
        await self.manager.apply_settlement(report)

    async def close(self) -> None:
        """Dispose of the database engine."""
        await self._engine.dispose()
