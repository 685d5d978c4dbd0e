"""The order manager: persists before it sends, never forgets an order, counts a fill once.

Every order starts as a row written in the same transaction as its intent and audit records,
*before* the request leaves; its ``client_order_id`` is derived from the deterministic intent
id, so a repeated decision (a retry, a restart) can never create a second order. Each change
of state goes through :func:`~milkbot.oms.states.transition` and is appended to
``order_events`` with the venue's answer; an illegal change is recorded as refused and raises.

Fills are keyed by ``trade_id:order_id``, the identity the REST fill and the WebSocket fill of
one execution share, and are applied in the transaction that inserts them: the position row
moves exactly once per execution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.clock import Clock
from milkbot.domain.intents import OrderIntent, yes_delta, yes_price_of
from milkbot.domain.ledger import Position as LedgerPosition
from milkbot.domain.ledger import apply_trade
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import (
    Action,
    FillReport,
    OrderReport,
    OrderRequest,
    SettlementReport,
    TimeInForce,
    VenueOrderStatus,
)
from milkbot.errors import OrderStateError, OutcomeUnknownError, UpstreamError
from milkbot.logging import get_logger
from milkbot.oms.ids import client_order_id
from milkbot.oms.states import OrderEventKind, OrderState, fill_event, transition
from milkbot.oms.venue import ExecutionVenue
from milkbot.risk.engine import ApprovedOrder
from milkbot.store.models import AuditRecord, Fill, Intent, Order, OrderEvent, Position
from milkbot.venues.kalshi.client import KalshiRejection, order_body

log = get_logger(__name__)

ZERO = Decimal(0)
DUPLICATE_CODE = "order_already_exists"
RESUBMIT_WINDOW = timedelta(minutes=2)
"""An in-flight order the venue does not know is re-sent (same id) only this soon after it
was first submitted; an older one is given up, so a stale price is never sent late."""


def fill_key(fill: FillReport) -> str:
    """The identity of one execution of one order, the same from REST and WebSocket."""
    return f"{fill.trade_id}:{fill.order_id}"


def event_of(market_ticker: str) -> str:
    """The event ticker of a market ticker (``KXHIGHNY-25APR06-B57.5`` -> ``KXHIGHNY-25APR06``)."""
    return market_ticker.rsplit("-", 1)[0]


@dataclass(frozen=True, slots=True)
class OrderView:
    """The manager's in-memory copy of one open order."""

    client_order_id: str
    intent_id: str
    venue_order_id: str | None
    market_ticker: str
    side: OutcomeSide
    action: Action
    limit_price: Decimal
    count: Decimal
    filled: Decimal
    state: OrderState
    created_at: datetime

    @property
    def remaining(self) -> Decimal:
        """Contracts still working (zero once the order is done)."""
        return self.count - self.filled if self.state.is_open else ZERO

    @property
    def request(self) -> OrderRequest:
        """The exact request of this order (re-sent unchanged after an unknown outcome)."""
        return OrderRequest(
            ticker=self.market_ticker,
            side=self.side,
            action=self.action,
            price=self.limit_price,
            count=self.count,
            client_order_id=self.client_order_id,
            time_in_force=TimeInForce.GOOD_TILL_CANCELED,
        )

    @property
    def yes_delta(self) -> Decimal:
        """Signed YES exposure of the remaining contracts."""
        return yes_delta(self.side, self.action, self.remaining)


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """What :meth:`OrderManager.submit` did with one approved order."""

    intent_id: str
    client_order_id: str
    state: OrderState | None
    skipped: str | None = None


def request_for(
    intent: OrderIntent, time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
) -> OrderRequest:
    """The limit order request of an intent, under its deterministic ``client_order_id``."""
    return OrderRequest(
        ticker=intent.market_ticker,
        side=intent.side,
        action=intent.action,
        price=intent.limit_price,
        count=intent.count,
        client_order_id=client_order_id(intent.intent_id),
        time_in_force=time_in_force,
    )


def _view(row: Order) -> OrderView:
    return OrderView(
        client_order_id=row.client_order_id,
        intent_id=row.intent_id,
        venue_order_id=row.venue_order_id,
        market_ticker=row.market_ticker,
        side=OutcomeSide(row.side),
        action=Action(row.action),
        limit_price=row.limit_price,
        count=row.count,
        filled=row.filled_count,
        state=OrderState(row.status),
        created_at=row.created_at,
    )


class OrderManager:
    """Submits, cancels and tracks orders against one venue; the database is the truth."""

    def __init__(
        self,
        venue: ExecutionVenue,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
    ) -> None:
        self._venue = venue
        self._sessions = sessions
        self._clock = clock
        self._open: dict[str, OrderView] = {}
        self.illegal_transitions = 0
        self.fills_applied = 0
        self._new_fills: list[FillReport] = []

    # --- state -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Read every open order from the database (at start, before reconciliation)."""
        async with self._sessions() as s:
            rows = await s.scalars(
                select(Order).where(Order.status.in_([st.value for st in OrderState if st.is_open]))
            )
            self._open = {r.client_order_id: _view(r) for r in rows}

    @property
    def open_orders(self) -> tuple[OrderView, ...]:
        """Orders that may still trade, oldest first."""
        return tuple(sorted(self._open.values(), key=lambda o: (o.created_at, o.client_order_id)))

    def blocked_markets(self) -> frozenset[str]:
        """Markets with an order in flight: no new order there until it is resolved."""
        return frozenset(o.market_ticker for o in self._open.values() if o.state.in_flight)

    def resting_delta(self, market_ticker: str) -> Decimal:
        """Signed YES exposure of the open orders in one market."""
        return sum(
            (o.yes_delta for o in self._open.values() if o.market_ticker == market_ticker), ZERO
        )

    # --- submit ------------------------------------------------------------------------------

    async def submit(
        self,
        approved: ApprovedOrder,
        *,
        strategy_run: str,
        slot: str,
        reason: str,
        audit: Mapping[str, Mapping[str, Any]],
        policy: Mapping[str, Any] | None = None,
        time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED,
    ) -> SubmitOutcome:
        """Persist the intent, its order and its audit, then send the order.

        A repeated intent id (the same decision again) is skipped without a request, and so is
        a market with an order in flight.
        """
        intent = approved.intent
        coid = client_order_id(intent.intent_id)
        if intent.market_ticker in self.blocked_markets():
            return SubmitOutcome(intent.intent_id, coid, None, "market_in_flight")
        now = self._clock.now()
        req = request_for(intent, time_in_force)
        oms_audit = {
            "limit_price": str(intent.limit_price),
            "count": str(intent.count),
            "time_in_force": req.time_in_force.value,
            "request": order_body(req),
            "policy": dict(policy or {}),
        }
        records = {**audit, "risk": approved.decision.to_audit(), "oms": oms_audit}
        async with self._sessions() as s:
            if await s.get(Intent, intent.intent_id) is not None:
                return SubmitOutcome(intent.intent_id, coid, None, "duplicate_intent")
            s.add(
                Intent(
                    intent_id=intent.intent_id,
                    client_order_id=coid,
                    strategy_run=strategy_run,
                    decision_slot=slot,
                    market_ticker=intent.market_ticker,
                    event_ticker=intent.event_ticker,
                    city=intent.city,
                    side=intent.side.value,
                    action=intent.action.value,
                    limit_price=intent.limit_price,
                    count=intent.count,
                    reason=reason,
                    created_at=now,
                )
            )
            await s.flush()
            s.add(
                Order(
                    client_order_id=coid,
                    intent_id=intent.intent_id,
                    venue_order_id=None,
                    market_ticker=intent.market_ticker,
                    side=intent.side.value,
                    action=intent.action.value,
                    limit_price=intent.limit_price,
                    count=intent.count,
                    filled_count=ZERO,
                    remaining_count=intent.count,
                    status=OrderState.SUBMITTED.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            s.add(
                OrderEvent(
                    client_order_id=coid,
                    ts=now,
                    event="submit",
                    from_status=None,
                    to_status=OrderState.SUBMITTED.value,
                    accepted=True,
                    payload=order_body(req),
                )
            )
            s.add_all(
                AuditRecord(intent_id=intent.intent_id, kind=kind, ts=now, payload=dict(payload))
                for kind, payload in records.items()
            )
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                return SubmitOutcome(intent.intent_id, coid, None, "duplicate_intent")
        view = OrderView(
            coid,
            intent.intent_id,
            None,
            intent.market_ticker,
            intent.side,
            intent.action,
            intent.limit_price,
            intent.count,
            ZERO,
            OrderState.SUBMITTED,
            now,
        )
        self._open[coid] = view
        state = await self._send(view)
        return SubmitOutcome(intent.intent_id, coid, state)

    async def _send(self, view: OrderView) -> OrderState:
        try:
            ack = await self._venue.create_order(view.request)
        except KalshiRejection as e:
            if e.status == 409 and e.code == DUPLICATE_CODE:
                # An earlier attempt landed: the venue's record decides.
                await self._record(view, OrderEventKind.OUTCOME_UNKNOWN, {"code": e.code})
                return await self.resolve(view.client_order_id)
            return await self._record(
                view,
                OrderEventKind.REJECTED,
                {"status": e.status, "code": e.code, "message": e.message},
            )
        except (OutcomeUnknownError, UpstreamError) as e:
            return await self._record(view, OrderEventKind.OUTCOME_UNKNOWN, {"error": str(e)})
        view = self._open.get(view.client_order_id, view)
        state = await self._record(
            view,
            OrderEventKind.ACCEPTED,
            {
                "order_id": ack.order_id,
                "filled": None if ack.filled is None else str(ack.filled),
                "remaining": None if ack.remaining is None else str(ack.remaining),
                "average_fill_price": None
                if ack.average_fill_price is None
                else str(ack.average_fill_price),
            },
            venue_order_id=ack.order_id,
        )
        if ack.filled:
            await self.sync_fills(order_id=ack.order_id)
            return await self.state_of(view.client_order_id)
        return state

    async def state_of(self, client_order_id: str) -> OrderState:
        """The stored state of an order."""
        async with self._sessions() as s:
            status = await s.scalar(
                select(Order.status).where(Order.client_order_id == client_order_id)
            )
        if status is None:
            raise OrderStateError(f"no order {client_order_id}")
        return OrderState(status)

    # --- transitions -------------------------------------------------------------------------

    async def _record(
        self,
        view: OrderView,
        kind: OrderEventKind,
        payload: Mapping[str, Any],
        *,
        venue_order_id: str | None = None,
        session: AsyncSession | None = None,
        filled: Decimal | None = None,
    ) -> OrderState:
        """Apply one transition to the order row and the cache, append it to the history."""
        if session is None:
            async with self._sessions() as s:
                state = await self._record(
                    view, kind, payload, venue_order_id=venue_order_id, session=s, filled=filled
                )
                await s.commit()
            return state
        row = await session.scalar(
            select(Order).where(Order.client_order_id == view.client_order_id)
        )
        if row is None:
            raise OrderStateError(f"no order {view.client_order_id}")
        current = OrderState(row.status)
        now = self._clock.now()

        def history(to: OrderState, accepted: bool) -> OrderEvent:
            return OrderEvent(
                client_order_id=view.client_order_id,
                ts=now,
                event=kind.value,
                from_status=current.value,
                to_status=to.value,
                accepted=accepted,
                payload=dict(payload),
            )

        try:
            new = transition(current, kind)
        except OrderStateError:
            self.illegal_transitions += 1
            session.add(history(current, accepted=False))
            await session.commit()
            log.error(
                "alert_illegal_transition",
                client_order_id=row.client_order_id,
                state=current.value,
                order_event=kind.value,
            )
            raise
        row.status = new.value
        if venue_order_id is not None:
            row.venue_order_id = venue_order_id
        if filled is not None:
            row.filled_count = filled
        row.remaining_count = row.count - row.filled_count if new.is_open else ZERO
        row.updated_at = now
        session.add(history(new, accepted=True))
        updated = _view(row)
        if new.is_open:
            self._open[row.client_order_id] = updated
        else:
            self._open.pop(row.client_order_id, None)
        return new

    # --- cancel ------------------------------------------------------------------------------

    async def cancel(self, client_order_id: str, reason: str) -> OrderState:
        """Ask the venue to cancel an order's remainder; in-flight orders are resolved first."""
        view = self._open.get(client_order_id)
        if view is None:
            raise OrderStateError(f"order {client_order_id} is not open")
        if view.state.in_flight or view.venue_order_id is None:
            return await self.resolve(client_order_id)
        state = await self._record(view, OrderEventKind.CANCEL_REQUESTED, {"reason": reason})
        view = self._open[client_order_id]
        try:
            ack = await self._venue.cancel_order(
                view.venue_order_id or "", ticker=view.market_ticker
            )
        except KalshiRejection as e:
            log.warning("cancel_refused", client_order_id=client_order_id, code=e.code)
            return await self.resolve(client_order_id)
        except UpstreamError as e:
            log.warning("cancel_outcome_unknown", client_order_id=client_order_id, error=str(e))
            return state  # stays PENDING_CANCEL until a lookup settles it
        await self.sync_fills(order_id=ack.order_id)
        view = self._open.get(client_order_id)
        if view is None:
            return OrderState.FILLED
        return await self._record(
            view,
            OrderEventKind.CANCELLED,
            {"order_id": ack.order_id, "reduced_by": str(ack.reduced_by or "")},
        )

    # --- lookups -----------------------------------------------------------------------------

    async def find_at_venue(self, view: OrderView) -> OrderReport | None:
        """The venue's record of an order, looked up by its ``client_order_id``."""
        since = view.created_at - timedelta(minutes=1)
        reports = await self._venue.get_orders(ticker=view.market_ticker, min_ts=since)
        return next((r for r in reports if r.client_order_id == view.client_order_id), None)

    async def resolve(self, client_order_id: str) -> OrderState:
        """Settle an order against the venue's record; re-send it if it never arrived."""
        view = self._open.get(client_order_id)
        if view is None:
            raise OrderStateError(f"order {client_order_id} is not open")
        try:
            report = await self.find_at_venue(view)
        except UpstreamError as e:
            log.warning("lookup_failed", client_order_id=client_order_id, error=str(e))
            return view.state
        if report is not None:
            return await self.apply_report(report)
        if view.state is OrderState.SUBMITTED:
            await self._record(view, OrderEventKind.OUTCOME_UNKNOWN, {"lookup": "not_found"})
            view = self._open[client_order_id]
        if view.state is not OrderState.UNKNOWN:
            return view.state
        if self._clock.now() - view.created_at > RESUBMIT_WINDOW:
            return await self._record(
                view, OrderEventKind.REJECTED, {"lookup": "not_found", "reason": "stale_in_flight"}
            )
        await self._record(view, OrderEventKind.RESUBMITTED, {"lookup": "not_found"})
        return await self._send(self._open[client_order_id])

    async def resolve_in_flight(self) -> list[OrderState]:
        """Resolve every order whose outcome is not known."""
        return [
            await self.resolve(o.client_order_id) for o in self.open_orders if o.state.in_flight
        ]

    async def apply_report(self, report: OrderReport) -> OrderState:
        """Bring one local order in line with the venue's record of it."""
        view = self._open.get(report.client_order_id)
        if view is None:
            raise OrderStateError(f"order {report.client_order_id} is not open")
        if view.venue_order_id is None:
            await self._adopt_fills(view, report.order_id)
            view = self._open.get(report.client_order_id)
            if view is None:
                return OrderState.FILLED
        if report.filled > view.filled:
            await self.sync_fills(order_id=report.order_id)
            view = self._open.get(report.client_order_id)
            if view is None:
                return OrderState.FILLED
        payload = {
            "order_id": report.order_id,
            "venue_status": report.status.value,
            "filled": str(report.filled),
            "remaining": str(report.remaining),
        }
        if report.status is VenueOrderStatus.RESTING:
            if view.state in (OrderState.SUBMITTED, OrderState.UNKNOWN):
                return await self._record(
                    view, OrderEventKind.ACCEPTED, payload, venue_order_id=report.order_id
                )
            if view.state is OrderState.PENDING_CANCEL:
                return await self._record(view, OrderEventKind.CANCEL_REJECTED, payload)
            return view.state
        if report.status is VenueOrderStatus.CANCELED:
            return await self._record(
                view, OrderEventKind.CANCELLED, payload, venue_order_id=report.order_id
            )
        # executed: the venue says the order is done
        if report.filled > view.filled:
            log.error(
                "alert_fills_missing",
                client_order_id=view.client_order_id,
                local=str(view.filled),
                venue=str(report.filled),
            )
            return view.state
        # every fill is in and the venue removed the remainder (e.g. self-trade prevention)
        return await self._record(view, OrderEventKind.CANCELLED, payload)

    async def _adopt_fills(self, view: OrderView, venue_order_id: str) -> None:
        """Learn an order's venue id and attach fills that arrived before it was known."""
        async with self._sessions() as s:
            row = await s.scalar(select(Order).where(Order.client_order_id == view.client_order_id))
            if row is None:
                raise OrderStateError(f"no order {view.client_order_id}")
            row.venue_order_id = venue_order_id
            orphans = list(
                await s.scalars(
                    select(Fill).where(
                        Fill.venue_order_id == venue_order_id, Fill.client_order_id.is_(None)
                    )
                )
            )
            if orphans:
                for r in orphans:
                    r.client_order_id = view.client_order_id
                filled = view.filled + sum((r.count for r in orphans), ZERO)
                await self._record(
                    view,
                    fill_event(view.count - filled),
                    {"adopted_fills": [r.venue_fill_id for r in orphans]},
                    venue_order_id=venue_order_id,
                    session=s,
                    filled=filled,
                )
            else:
                self._open[view.client_order_id] = _view(row)
            await s.commit()

    # --- fills and settlements ----------------------------------------------------------------

    async def sync_fills(
        self, *, order_id: str | None = None, since: datetime | None = None
    ) -> int:
        """Fetch fills from the venue and apply the new ones; return how many were new."""
        fills = await self._venue.get_fills(order_id=order_id, min_ts=since)
        return await self.apply_fills(fills)

    async def apply_fills(self, fills: Iterable[FillReport]) -> int:
        """Apply fills in time order; each execution changes the books once."""
        new = 0
        for f in sorted(fills, key=lambda f: (f.ts, fill_key(f))):
            if await self.apply_fill(f):
                new += 1
        return new

    async def apply_fill(self, fill: FillReport) -> bool:
        """Record one fill and move its order and position; False when already applied."""
        key = fill_key(fill)
        async with self._sessions() as s:
            if await s.scalar(select(Fill.id).where(Fill.venue_fill_id == key)) is not None:
                return False
            order = await s.scalar(
                select(Order).where(
                    (Order.venue_order_id == fill.order_id)
                    | (Order.client_order_id == (fill.client_order_id or "\0"))
                )
            )
            s.add(
                Fill(
                    venue_fill_id=key,
                    venue_order_id=fill.order_id,
                    client_order_id=None if order is None else order.client_order_id,
                    market_ticker=fill.ticker,
                    side=fill.side.value,
                    action=fill.action.value,
                    price=fill.price,
                    count=fill.count,
                    fee=fill.fee,
                    is_taker=fill.is_taker,
                    ts=fill.ts,
                )
            )
            await self._move_position(s, fill)
            if order is None:
                # An order not resolved yet (adopted by apply_report) or not ours at all.
                log.warning("fill_of_unresolved_order", order_id=fill.order_id, ticker=fill.ticker)
            else:
                filled = order.filled_count + fill.count
                try:
                    await self._record(
                        _view(order),
                        fill_event(order.count - filled),
                        {"fill": key, "count": str(fill.count), "price": str(fill.price)},
                        venue_order_id=order.venue_order_id or fill.order_id,
                        session=s,
                        filled=filled,
                    )
                except OrderStateError:
                    # Recorded as refused; the fill itself is committed.
                    self._new_fills.append(fill)
                    return True
            try:
                await s.commit()
            except IntegrityError:  # the same fill applied concurrently
                await s.rollback()
                return False
        self.fills_applied += 1
        self._new_fills.append(fill)
        return True

    def drain_new_fills(self) -> list[FillReport]:
        """The fills applied since the last call, in the order they were applied."""
        out, self._new_fills = self._new_fills, []
        return out

    async def _move_position(self, s: AsyncSession, fill: FillReport) -> None:
        now = self._clock.now()
        row = await s.get(Position, fill.ticker)
        if row is None:
            row = Position(
                market_ticker=fill.ticker,
                event_ticker=event_of(fill.ticker),
                position=ZERO,
                cost=ZERO,
                realized_pnl=ZERO,
                fees_paid=ZERO,
                settled=False,
                updated_at=now,
            )
            s.add(row)
        result = apply_trade(
            LedgerPosition(row.position, row.cost),
            yes_delta(fill.side, fill.action, fill.count),
            yes_price_of(fill.side, fill.price),
            fill.fee,
        )
        row.position = result.position.contracts
        row.cost = result.position.cost
        row.realized_pnl = row.realized_pnl + result.realized
        row.fees_paid = row.fees_paid + fill.fee
        row.updated_at = now

    async def apply_settlement(self, report: SettlementReport) -> bool:
        """Settle one market's position once; False when it was already settled."""
        async with self._sessions() as s:
            row = await s.get(Position, report.ticker)
            if row is None or row.settled:
                return False
            yes_wins = report.market_result == "yes"
            payout = LedgerPosition(row.position, row.cost).payout(yes_wins)
            row.realized_pnl = row.realized_pnl + payout - row.cost
            row.position = ZERO
            row.cost = ZERO
            row.settled = True
            row.updated_at = self._clock.now()
            await s.commit()
        return True

    async def positions(self) -> dict[str, Decimal]:
        """Local signed YES positions of unsettled markets, from the fills."""
        async with self._sessions() as s:
            rows = await s.scalars(select(Position).where(Position.settled.is_(False)))
            return {r.market_ticker: r.position for r in rows if r.position != 0}
