"""The trading desk: decisions, orders, fills, P&L and breakers for the trader's loop.

Per event and step: features -> :func:`~milkbot.decision.decide` -> cancel/replace review of
resting orders -> :class:`~milkbot.oms.manager.OrderManager`. After the step: new fills move
the books and are exported (sanitized), positions are marked, equity and city P&L feed the
breakers, and reconciliation runs on its period. Nothing is sent before a start-up
reconciliation succeeded, nor while the last one found a difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.clock import Clock
from milkbot.decision import BookTop, Decision, decide, top_strategy
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import Action, OrderIntent, Side
from milkbot.domain.ledger import EquityPoint as LedgerEquityPoint
from milkbot.domain.ledger import Mark
from milkbot.domain.ledger import Position as LedgerPosition
from milkbot.domain.market import Market
from milkbot.domain.portfolio import FillReport, TimeInForce
from milkbot.domain.stations import Station, by_ticker
from milkbot.errors import OrderStateError, RiskRejection, UpstreamError
from milkbot.features.event import EventFeatures
from milkbot.logging import get_logger
from milkbot.oms.ids import decision_slot, intent_id
from milkbot.oms.manager import OrderManager, event_of
from milkbot.oms.policy import ReplacePolicy, Verdict
from milkbot.oms.reconcile import Reconciler, ReconciliationReport
from milkbot.oms.venue import ExecutionVenue
from milkbot.ops.operator import (
    FLATTEN,
    apply_pending,
    format_scope,
    load_board,
    parse_scope,
    save_board,
)
from milkbot.risk.breakers import GLOBAL, Scope, Trip
from milkbot.risk.engine import RiskEngine
from milkbot.risk.exposure import EventInfo, PendingOrder, PortfolioState
from milkbot.store.models import (
    AuditRecord,
    EquityPoint,
    Intent,
    Order,
    Position,
    PublicTrade,
    StrategyForecast,
)
from milkbot.store.state import read_state, write_state
from milkbot.strategies.ensemble import Ensemble
from milkbot.trader.export import Exporter
from milkbot.trader.features import live_features
from milkbot.trader.fees import SeriesFees
from milkbot.trader.weather_feed import WeatherNow

log = get_logger(__name__)

ZERO = Decimal(0)
BOOK_KEY = "book"


def event_date_of(event_ticker: str) -> date:
    """The climate day in an event ticker (``KXHIGHNY-25APR06`` -> 2025-04-06)."""
    return datetime.strptime(event_ticker.rsplit("-", 1)[1], "%y%b%d").date()  # noqa: DTZ007


@dataclass
class DeskStats:
    """What the desk has done (``/health`` and ``milkbot status``)."""

    decisions: int = 0
    orders_sent: int = 0
    orders_skipped: int = 0
    cancels: int = 0
    fills: int = 0
    reconciliations: int = 0
    reconciled_ok: bool = False
    last_reconciliation: dict[str, Any] = field(default_factory=dict)
    equity: str = ""
    trading_state: str = ""


@dataclass
class DeskConfig:
    """How the desk trades."""

    strategy_run: str = "ensemble-v1"
    fee_model: FeeModel = field(default_factory=FeeModel)
    policy: ReplacePolicy = field(default_factory=ReplacePolicy)
    reconcile_every: timedelta = timedelta(minutes=30)
    slot_minutes: int = 15


class TradingDesk:
    """Turns each step's view of the markets into orders and keeps the books."""

    def __init__(
        self,
        *,
        venue: ExecutionVenue,
        manager: OrderManager,
        risk: RiskEngine,
        ensemble: Ensemble,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        exporter: Exporter,
        config: DeskConfig | None = None,
        fees: SeriesFees | None = None,
    ) -> None:
        self._venue = venue
        self._fees = fees
        self.manager = manager
        self.risk = risk
        self._ensemble = ensemble
        self._sessions = sessions
        self._clock = clock
        self._exporter = exporter
        self.config = config or DeskConfig()
        self._reconciler = Reconciler(manager, venue, sessions, clock)
        self._events: dict[str, EventInfo] = {}
        self._markets: dict[str, Market] = {}
        self._forecast_slots: dict[str, str] = {}
        self._equity_slot = ""
        self._last_reconcile: datetime | None = None
        self._starting_cash = ZERO
        self._hwm = ZERO
        self._board_record: dict[str, object] = {}
        self._unexported: list[FillReport] = []
        self._alerted: set[Trip] = set()
        self._stale_alerted: set[str] = set()
        self.stats = DeskStats()

    @classmethod
    def on_venue(
        cls,
        venue: ExecutionVenue,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        exporter: Exporter,
        fees: SeriesFees | None = None,
    ) -> TradingDesk:
        """The product's desk on ``venue``: its OMS, risk limits and packaged ensemble; with
        ``fees``, each series' fee schedule as the exchange publishes it."""
        from milkbot.strategies.factory import build_ensemble

        return cls(
            venue=venue,
            manager=OrderManager(venue, sessions, clock),
            risk=RiskEngine.create(),
            ensemble=build_ensemble(),
            sessions=sessions,
            clock=clock,
            exporter=exporter,
            fees=fees,
        )

    def _fee_model(self, market_ticker: str) -> FeeModel:
        """The fee schedule last read for the market's series (else the configured one)."""
        if self._fees is None:
            return self.config.fee_model
        return self._fees.for_ticker(market_ticker, self.config.fee_model)

    # --- start and reconciliation -------------------------------------------------------------

    async def start(self) -> ReconciliationReport:
        """Restore the breaker board and the book's anchors, then reconcile."""
        async with self._sessions() as s:
            self.risk.breakers = await load_board(s, self.risk.limits.breakers)
            book = await read_state(s, BOOK_KEY)
        if "starting_cash" in book:
            self._starting_cash = Decimal(book["starting_cash"])
            self._hwm = Decimal(book.get("high_water_mark", book["starting_cash"]))
        else:
            self._starting_cash = (await self._venue.get_balance()).balance
            self._hwm = self._starting_cash
            await self._save_book()
        return await self.reconcile()

    async def reconcile(self) -> ReconciliationReport:
        """One reconciliation pass; a difference halts trading through the breaker board."""
        report = await self._reconciler.run()
        now = self._clock.now()
        self._last_reconcile = now
        self.stats.reconciliations += 1
        self.stats.reconciled_ok = report.ok
        self.stats.last_reconciliation = report.to_record()
        if report.error:
            log.warning("reconciliation_incomplete", error=report.error)
        elif report.mismatches:
            self.risk.breakers.report_reconciliation(report.mismatches, now)
        self._collect_fills()
        return report

    @property
    def ready(self) -> bool:
        """Whether new orders may be sent (the last reconciliation passed)."""
        return self.stats.reconciled_ok

    # --- per event -------------------------------------------------------------------------

    async def apply_operator_commands(self) -> None:
        """Apply queued ``halt``/``resume``/``reset-breaker`` commands to the breaker board."""
        async with self._sessions.begin() as s:
            applied = await apply_pending(s, self.risk.breakers, self._clock)
        for row in applied:
            log.warning(
                "alert_operator_command",
                command=row.command,
                scope=row.scope,
                operator=row.operator,
                outcome=row.outcome,
            )
        if applied:
            await self._save_board()
        for row in applied:
            if row.command == FLATTEN and (row.outcome or "").startswith("ok"):
                await self.flatten(parse_scope(row.scope), f"flatten-{row.id}")

    async def flatten(self, scope: Scope, run: str) -> tuple[int, int]:
        """Cancel ``scope``'s resting orders, then close its positions at the touch.

        Each position gets one immediate-or-cancel order at the best bid of the contract
        held, through the risk engine (the scope is reduce-only) and the OMS, with ``run``
        as the strategy run so a re-applied command cannot send it twice. A market without
        a bid is reported and left. Returns (orders cancelled, closing orders sent).
        """
        now = self._clock.now()
        cancelled = sent = 0
        for order in self.manager.open_orders:
            if scope in self._scopes(order.market_ticker):
                try:
                    await self.manager.cancel(order.client_order_id, "flatten")
                    cancelled += 1
                except (UpstreamError, OrderStateError) as e:
                    log.warning("flatten_cancel_failed", order=order.client_order_id, error=str(e))
        portfolio, _, _ = await self._portfolio(now)
        for ticker, contracts in sorted((await self.manager.positions()).items()):
            side = Side.YES if contracts > 0 else Side.NO
            if scope not in self._scopes(ticker):
                continue
            intent = self._closing_intent(ticker, side, abs(contracts), run, now)
            if intent is None:
                continue
            try:
                approved = self.risk.approve(intent, portfolio, self._clock)
            except RiskRejection as e:
                log.error("alert_flatten_denied", market=ticker, reason=str(e))
                continue
            audit: dict[str, dict[str, Any]] = {
                "market": {"flatten": True, "ts": now.isoformat()},
                "weather": {},
                "strategy": {"name": "flatten", "scope": format_scope(scope)},
            }
            outcome = await self.manager.submit(
                approved,
                strategy_run=run,
                slot=run,
                reason="flatten",
                audit=audit,
                time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
            )
            sent += outcome.skipped is None
        log.warning("flatten_done", scope=format_scope(scope), cancelled=cancelled, sent=sent)
        return cancelled, sent

    def _scopes(self, ticker: str) -> tuple[Scope, ...]:
        station = by_ticker(ticker)
        return self.risk.market_scopes("" if station is None else station.city, ticker)

    def _closing_intent(
        self, ticker: str, side: Side, count: Decimal, run: str, now: datetime
    ) -> OrderIntent | None:
        market = self._markets.get(ticker)
        bid = None
        if market is not None:
            bid = (
                market.yes_bid
                if side is Side.YES
                else (None if market.yes_ask is None else 1 - market.yes_ask)
            )
        if market is None or market.close_time is None or bid is None or bid <= 0:
            log.error("alert_flatten_no_bid", market=ticker, side=side.value)
            return None
        station = by_ticker(ticker)
        return OrderIntent(
            intent_id=intent_id(run, ticker, side, Action.SELL, run),
            market_ticker=ticker,
            event_ticker=event_of(ticker),
            city="" if station is None else station.city,
            side=side,
            action=Action.SELL,
            count=count,
            limit_price=bid,
            fee_model=self._fee_model(ticker),
            close_time=market.close_time,
            quote_time=now,
        )

    async def on_event(
        self,
        station: Station,
        event_ticker: str,
        markets: list[Market],
        now: datetime,
        weather: WeatherNow | None,
    ) -> dict[str, float]:
        """Decide on one event; return the ensemble's probability per market ticker."""
        for m in markets:
            self._markets[m.ticker] = m
        day = event_date_of(event_ticker)
        built = live_features(station, event_ticker, day, markets, now, weather=weather)
        if built is None:
            return {}
        features, weather_time = built
        self._events[event_ticker] = EventInfo(
            features.tickers, features.is_partition, station.city
        )
        if now >= features.close_time:
            return {}
        limit = self.risk.limits.breakers.max_forecast_age
        if weather_time is None or now - weather_time > limit:
            # No fresh weather behind a decision: publish the view, do not trade on it.
            if weather_time is not None and event_ticker not in self._stale_alerted:
                self._stale_alerted.add(event_ticker)
                log.error("alert_stale_weather", event_ticker=event_ticker, last=str(weather_time))
            return self._view(features)
        fee_model = self.config.fee_model
        if self._fees is not None:
            read = await self._fees.refresh(station.series)
            if read is None:
                # The series' fees were never read: sizing would guess them. Do not trade.
                return self._view(features)
            fee_model = read
        portfolio, pending, holdings = await self._portfolio(now)
        books = {m.ticker: _book(m, now) for m in markets if m.event_ticker == event_ticker}
        decision = decide(
            features,
            self._ensemble,
            books,
            fee_model,
            self.risk,
            portfolio,
            self._clock,
            strategy_run=self.config.strategy_run,
            holdings=holdings,
            pending=pending,
            slot_minutes=self.config.slot_minutes,
            weather_time=weather_time,
        )
        if decision is None:
            return {}
        self.stats.decisions += 1
        self._export_forecasts(station, decision, now)
        await self._review_resting(decision, now)
        if self.ready:
            await self._send(station, decision, markets, weather, weather_time, now)
        return dict(zip(features.tickers, decision.output.probabilities, strict=True))

    def _view(self, features: EventFeatures) -> dict[str, float]:
        """The ensemble's probabilities without a decision (published, never traded)."""
        output = self._ensemble.predict(features)
        if output is None:
            return {}
        return dict(zip(features.tickers, output.probabilities, strict=True))

    async def _review_resting(self, decision: Decision, now: datetime) -> None:
        fair = {
            (leg.market_ticker, leg.side.value): leg.limit_price for leg in decision.sizing.legs
        }
        tickers = set(decision.features.tickers)
        for order in self.manager.open_orders:
            if order.market_ticker not in tickers or order.state.in_flight:
                continue
            verdict, why = self.config.policy.review(
                order,
                now=now,
                close_time=decision.features.close_time,
                fair_limit=fair.get((order.market_ticker, order.side.value)),
            )
            if verdict is Verdict.CANCEL:
                try:
                    await self.manager.cancel(order.client_order_id, why)
                    self.stats.cancels += 1
                except OrderStateError as e:
                    log.warning("cancel_skipped", error=str(e))

    async def _send(
        self,
        station: Station,
        decision: Decision,
        markets: list[Market],
        weather: WeatherNow | None,
        weather_time: datetime | None,
        now: datetime,
    ) -> None:
        if not decision.approved:
            return
        market_audit = {
            "ts": now.isoformat(),
            "markets": [
                {
                    "ticker": m.ticker,
                    "yes_bid": _s(m.yes_bid),
                    "yes_ask": _s(m.yes_ask),
                    "yes_bid_size": _s(m.yes_bid_size),
                    "yes_ask_size": _s(m.yes_ask_size),
                    "spread": _s(m.yes_ask - m.yes_bid)
                    if m.yes_ask is not None and m.yes_bid is not None
                    else None,
                    "close_time": None if m.close_time is None else m.close_time.isoformat(),
                    "status": m.status,
                    "rules_primary": m.rules_primary,
                    "rules_url": f"https://kalshi.com/markets/{m.event_ticker.lower()}",
                }
                for m in markets
                if m.event_ticker == decision.features.event_ticker
            ],
        }
        weather_audit = {
            "source": None if weather is None else weather.source,
            "station": station.icao,
            "running_max_f": decision.features.running_max_f,
            "hours_observed": decision.features.hours_observed,
            "observed_at": None if weather_time is None else weather_time.isoformat(),
            "forecasts": [
                {
                    "source": f.source,
                    "issued_at": f.issued_at.isoformat(),
                    "tmax_f": f.tmax_f,
                    "sigma_f": f.sigma_f,
                }
                for f in decision.features.forecasts
            ],
        }
        strategy_audit = decision.strategy_audit()
        index = {t: i for i, t in enumerate(decision.features.tickers)}
        for approved in decision.approved:
            intent = approved.intent
            reason = top_strategy(decision.output, index[intent.market_ticker], intent.side)
            try:
                out = await self.manager.submit(
                    approved,
                    strategy_run=self.config.strategy_run,
                    slot=decision.slot,
                    reason=reason,
                    audit={
                        "market": market_audit,
                        "weather": weather_audit,
                        "strategy": strategy_audit,
                    },
                    policy=self.config.policy.to_audit(),
                )
            except UpstreamError as e:
                self.risk.breakers.record_order_result(False, now)
                log.warning("submit_failed", error=str(e))
                continue
            if out.skipped:
                self.stats.orders_skipped += 1
                continue
            self.stats.orders_sent += 1
            self.risk.breakers.record_order_result(out.state is not None, now)
            log.info(
                "order_sent",
                market=intent.market_ticker,
                side=intent.side.value,
                count=str(intent.count),
                price=str(intent.limit_price),
                state=None if out.state is None else out.state.value,
            )

    # --- the book ---------------------------------------------------------------------------

    async def _positions(self) -> dict[str, Position]:
        async with self._sessions() as s:
            rows = await s.scalars(select(Position))
            return {r.market_ticker: r for r in rows}

    async def _portfolio(
        self, now: datetime
    ) -> tuple[PortfolioState, tuple[PendingOrder, ...], dict[str, Decimal]]:
        rows = await self._positions()
        positions = {
            t: LedgerPosition(r.position, r.cost)
            for t, r in rows.items()
            if not r.settled and r.position != 0
        }
        market_event = {
            t: info_event for info_event, info in self._events.items() for t in info.market_tickers
        }
        pending = []
        for o in self.manager.open_orders:
            if o.remaining <= 0:
                continue
            station = by_ticker(o.market_ticker)
            fee = self._fee_model(o.market_ticker).taker_fee(o.remaining, o.limit_price)
            pending.append(
                PendingOrder(
                    o.market_ticker,
                    event_of(o.market_ticker),
                    "" if station is None else station.city,
                    o.yes_delta,
                    o.limit_price if o.side is Side.YES else 1 - o.limit_price,
                    fee,
                )
            )
        point = self._mark(rows, now)
        portfolio = PortfolioState.build(
            positions,
            self._events,
            market_event,
            equity=point.equity,
            high_water_mark=point.high_water_mark,
            pending=pending,
        )
        holdings = {t: p.contracts for t, p in positions.items()}
        for o in self.manager.open_orders:
            holdings[o.market_ticker] = holdings.get(o.market_ticker, ZERO) + o.yes_delta
        return portfolio, tuple(pending), holdings

    def _unrealized(self, row: Position) -> Decimal:
        """Marked value minus cost of an open position (zero once settled or flat)."""
        if row.settled or row.position == 0:
            return ZERO
        m = self._markets.get(row.market_ticker)
        mark = None if m is None else Mark(m.yes_bid, m.yes_ask)
        return LedgerPosition(row.position, row.cost).mark_value(mark) - row.cost

    def _mark(self, rows: Mapping[str, Position], now: datetime) -> LedgerEquityPoint:
        realized = sum((r.realized_pnl for r in rows.values()), ZERO)
        unrealized = sum((self._unrealized(r) for r in rows.values()), ZERO)
        equity = self._starting_cash + realized + unrealized
        self._hwm = max(self._hwm, equity)
        return LedgerEquityPoint(now, equity, self._hwm, realized, unrealized)

    async def after_step(self, now: datetime) -> None:
        """Apply new fills, mark the book, feed the breakers, export, reconcile on schedule."""
        try:
            await self.manager.sync_fills(since=now - timedelta(hours=1))
        except UpstreamError as e:
            log.warning("fill_sync_failed", error=str(e))
        self._collect_fills()
        if self._unexported:
            fills, self._unexported = self._unexported, []
            await self._export_trades(fills)
        rows = await self._positions()
        point = self._mark(rows, now)
        before = set(self.risk.breakers.all_trips())
        self.risk.breakers.observe_equity(point)
        self.risk.breakers.observe_city_pnl(self._pnl_by_city(rows), now, self.risk.cluster_of)
        for trip in set(self.risk.breakers.all_trips()) - before - self._alerted:
            log.error("alert_breaker_trip", trip=str(trip))
        self._alerted = set(self.risk.breakers.all_trips())
        self.stats.equity = str(point.equity.quantize(Decimal("0.01")))
        self.stats.trading_state = self.risk.breakers.state(GLOBAL).value
        slot = decision_slot(now, self.config.slot_minutes)
        if slot != self._equity_slot:
            self._equity_slot = slot
            fees = sum((r.fees_paid for r in rows.values()), ZERO)
            self._exporter.offer(
                [
                    EquityPoint(
                        ts=now,
                        realized_pnl=point.realized,
                        unrealized_pnl=point.unrealized,
                        fees=fees,
                    )
                ]
            )
            await self._save_book()
        await self._save_board()
        due = (
            self._last_reconcile is None
            or now - self._last_reconcile >= self.config.reconcile_every
        )
        if due or not self.ready:
            await self.reconcile()

    def _collect_fills(self) -> None:
        fills = self.manager.drain_new_fills()
        self.stats.fills += len(fills)
        self._unexported.extend(fills)

    def _pnl_by_city(self, rows: Mapping[str, Position]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for t, r in rows.items():
            station = by_ticker(t)
            if station is None:
                continue
            value = r.realized_pnl + self._unrealized(r)
            out[station.city] = out.get(station.city, ZERO) + value
        return out

    async def settle_event(self, event_ticker: str) -> None:
        """Apply the venue's settlements of one event to the positions."""
        try:
            reports = await self._venue.get_settlements(event_ticker=event_ticker)
        except UpstreamError as e:
            log.warning("settlement_fetch_failed", event_ticker=event_ticker, error=str(e))
            return
        for r in reports:
            await self.manager.apply_settlement(r)

    async def cancel_all(self, reason: str) -> int:
        """Cancel every resting order this trader knows (graceful shutdown)."""
        done = 0
        for order in self.manager.open_orders:
            try:
                await self.manager.cancel(order.client_order_id, reason)
                done += 1
            except (UpstreamError, OrderStateError) as e:
                log.warning("cancel_failed", client_order_id=order.client_order_id, error=str(e))
        return done

    # --- exports ----------------------------------------------------------------------------

    def _export_forecasts(self, station: Station, decision: Decision, now: datetime) -> None:
        event = decision.features.event_ticker
        if self._forecast_slots.get(event) == decision.slot:
            return
        self._forecast_slots[event] = decision.slot
        rows = []
        labels = [b.label() for b in decision.features.brackets]
        views = {"ensemble": decision.output.probabilities} | {
            n: o.probabilities for n, o in decision.output.outputs.items()
        }
        for name, probs in sorted(views.items()):
            for ticker, label, p in zip(decision.features.tickers, labels, probs, strict=True):
                rows.append(
                    StrategyForecast(
                        ts=now,
                        city=station.city,
                        event_ticker=event,
                        event_date=decision.features.event_date,
                        market_ticker=ticker,
                        bracket=label,
                        strategy=name,
                        prob=float(p),
                    )
                )
        self._exporter.offer(rows)

    async def _export_trades(self, fills: list[FillReport]) -> None:
        async with self._sessions() as s:
            rows = await s.execute(
                select(
                    Order.venue_order_id, Intent.reason, Intent.event_ticker, AuditRecord.payload
                )
                .join(Intent, Intent.intent_id == Order.intent_id)
                .outerjoin(
                    AuditRecord,
                    (AuditRecord.intent_id == Intent.intent_id) & (AuditRecord.kind == "risk"),
                )
                .where(Order.venue_order_id.in_([f.order_id for f in fills]))
            )
            by_order = {r[0]: (r[1], r[2], _model_probability(r[3])) for r in rows}
        out = []
        for f in fills:
            station = by_ticker(f.ticker)
            m = self._markets.get(f.ticker)
            strategy, event, prob = by_order.get(f.order_id, ("unknown", event_of(f.ticker), None))
            out.append(
                PublicTrade(
                    ts=f.ts,
                    city="" if station is None else station.city,
                    event_date=event_date_of(event),
                    market_ticker=f.ticker,
                    bracket=m.bracket.label() if m is not None and m.bracket else f.ticker,
                    side=f.side.value,
                    action=f.action.value,
                    price=f.price,
                    count=f.count,
                    fee=f.fee,
                    strategy=strategy,
                    model_prob=prob,
                )
            )
        self._exporter.offer(out)

    # --- durable state ------------------------------------------------------------------------

    async def _save_book(self) -> None:
        book = {"starting_cash": str(self._starting_cash), "high_water_mark": str(self._hwm)}
        async with self._sessions.begin() as s:
            await write_state(s, BOOK_KEY, book, self._clock.now())

    async def _save_board(self) -> None:
        record = self.risk.breakers.snapshot()
        if record != self._board_record:
            self._board_record = record
            async with self._sessions.begin() as s:
                await save_board(s, self.risk.breakers, self._clock.now())


def _model_probability(risk_audit: Mapping[str, Any] | None) -> float | None:
    """The model probability of the traded side, as the risk decision recorded it."""
    raw = (risk_audit or {}).get("inputs", {}).get("model_probability")
    try:
        return None if raw in (None, "None") else float(raw)
    except (TypeError, ValueError):
        return None


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _book(m: Market, now: datetime) -> BookTop:
    return BookTop(
        yes_bid=m.yes_bid if m.yes_bid is not None and m.yes_bid > 0 else None,
        yes_ask=m.yes_ask if m.yes_ask is not None and m.yes_ask < 1 else None,
        yes_bid_size=m.yes_bid_size or ZERO,
        yes_ask_size=m.yes_ask_size or ZERO,
        ts=now,
    )
