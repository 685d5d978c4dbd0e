"""The risk engine: every order passes :meth:`RiskEngine.check`; cancels always pass.

A check validates the intent, refuses closed markets and stale data, applies the trading
state of the global, cluster, city and market scopes (HALTED: deny; REDUCING: only orders
that shrink the position, capped at its size), the minimum edge after fees, the per-order
caps, and the worst-case-loss caps per market, event, city, cluster and total. The result is
ALLOW, RESIZE (a smaller count fits) or DENY, with a stable reason code and the inputs, caps
and headroom used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from milkbot.clock import Clock
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import ONE, ZERO, CancelIntent, EventOpportunity, OrderIntent
from milkbot.domain.ledger import apply_trade, event_worst_case_loss
from milkbot.errors import RiskRejection
from milkbot.risk.breakers import (
    GLOBAL,
    BreakerBoard,
    BreakerKind,
    Scope,
    ScopeKind,
    TradingState,
)
from milkbot.risk.clusters import ClusterMap
from milkbot.risk.exposure import PendingOrder, PortfolioState
from milkbot.risk.limits import RiskLimits
from milkbot.risk.sizing import SizedLeg, SizingResult, floor_to_step, leg_to_intent, size_event


class DecisionAction(StrEnum):
    """What the risk engine decided."""

    ALLOW = "allow"
    RESIZE = "resize"
    DENY = "deny"


class ReasonCode(StrEnum):
    """Stable reason codes of risk decisions (never renamed; add new ones at the end)."""

    OK = "OK"
    CANCEL_ALWAYS_ALLOWED = "CANCEL_ALWAYS_ALLOWED"
    INVALID_ORDER = "INVALID_ORDER"
    MARKET_CLOSED = "MARKET_CLOSED"
    STALE_MARKET_DATA = "STALE_MARKET_DATA"
    STALE_WEATHER_DATA = "STALE_WEATHER_DATA"
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_REDUCING = "TRADING_REDUCING"
    REDUCE_ONLY_RESIZED = "REDUCE_ONLY_RESIZED"
    EDGE_BELOW_MINIMUM = "EDGE_BELOW_MINIMUM"
    ORDER_CONTRACTS_CAP = "ORDER_CONTRACTS_CAP"
    ORDER_NOTIONAL_CAP = "ORDER_NOTIONAL_CAP"
    MARKET_CAP = "MARKET_CAP"
    EVENT_CAP = "EVENT_CAP"
    CITY_CAP = "CITY_CAP"
    CLUSTER_CAP = "CLUSTER_CAP"
    TOTAL_CAP = "TOTAL_CAP"
    BELOW_MINIMUM_SIZE = "BELOW_MINIMUM_SIZE"


PLAN_SEARCH_STEPS = 14

_LAYER_REASON = {
    "market": ReasonCode.MARKET_CAP,
    "event": ReasonCode.EVENT_CAP,
    "city": ReasonCode.CITY_CAP,
    "cluster": ReasonCode.CLUSTER_CAP,
    "total": ReasonCode.TOTAL_CAP,
}


_CAP_REASONS = frozenset(
    {
        ReasonCode.ORDER_CONTRACTS_CAP,
        ReasonCode.ORDER_NOTIONAL_CAP,
        *_LAYER_REASON.values(),
    }
)


@dataclass(frozen=True, slots=True)
class CapUsage:
    """One cap: worst-case loss before and after the approved order, and the headroom left."""

    layer: str
    key: str
    cap: Decimal
    before: Decimal
    after: Decimal

    @property
    def headroom(self) -> Decimal:
        """Cap minus the worst case after the order (negative when already over)."""
        return self.cap - self.after


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The outcome of a risk check, ready for the audit record."""

    intent_id: str
    action: DecisionAction
    reason: ReasonCode
    requested: Decimal
    approved: Decimal
    decided_at: datetime
    limit_price: Decimal | None = None
    state: TradingState = TradingState.ACTIVE
    trips: tuple[str, ...] = ()
    caps: tuple[CapUsage, ...] = ()
    inputs: dict[str, str] = field(default_factory=dict)
    cluster_version: str = ""
    detail: str = ""

    @property
    def allowed(self) -> bool:
        """Return whether any contracts may be sent."""
        return self.action is not DecisionAction.DENY and self.approved > 0

    def raise_if_denied(self) -> None:
        """Raise :class:`RiskRejection` with the reason code when denied."""
        if self.action is DecisionAction.DENY:
            raise RiskRejection(self.reason.value, self.detail)

    def to_audit(self) -> dict[str, object]:
        """A JSON-ready dict of the decision."""
        return {
            "intent_id": self.intent_id,
            "action": self.action.value,
            "reason": self.reason.value,
            "requested": str(self.requested),
            "approved": str(self.approved),
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "decided_at": self.decided_at.isoformat(),
            "state": self.state.value,
            "trips": list(self.trips),
            "caps": [
                {
                    "layer": c.layer,
                    "key": c.key,
                    "cap": str(c.cap),
                    "before": str(c.before),
                    "after": str(c.after),
                    "headroom": str(c.headroom),
                }
                for c in self.caps
            ],
            "inputs": dict(self.inputs),
            "cluster_version": self.cluster_version,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ApprovedOrder:
    """An intent at the count the risk engine approved, with the decision.

    The OMS submits only these: the only way to get one is :meth:`RiskEngine.approve`.
    """

    intent: OrderIntent
    decision: RiskDecision

    def __post_init__(self) -> None:
        if not self.decision.allowed or self.decision.intent_id != self.intent.intent_id:
            raise RiskRejection(self.decision.reason.value, "not an approved decision")
        if self.intent.count != self.decision.approved:
            raise RiskRejection(self.decision.reason.value, "count differs from the approval")


@dataclass
class RiskEngine:
    """The pre-trade gate. Holds the limits, the breaker board and the cluster map."""

    limits: RiskLimits
    breakers: BreakerBoard
    clusters: ClusterMap | None = None

    @classmethod
    def create(
        cls, limits: RiskLimits | None = None, clusters: ClusterMap | None = None
    ) -> RiskEngine:
        """An engine with a fresh breaker board using ``limits.breakers``."""
        lim = limits or RiskLimits()
        return cls(lim, BreakerBoard(lim.breakers), clusters)

    def check_cancel(self, cancel: CancelIntent, clock: Clock) -> RiskDecision:
        """Cancels always pass, in every trading state."""
        return RiskDecision(
            cancel.order_id,
            DecisionAction.ALLOW,
            ReasonCode.CANCEL_ALWAYS_ALLOWED,
            ZERO,
            ZERO,
            clock.now(),
            inputs={"market": cancel.market_ticker, "order_id": cancel.order_id},
        )

    def cluster_of(self, city: str) -> str:
        """The cluster id of a city (the city itself without a cluster map)."""
        return self.clusters.cluster_of(city) if self.clusters is not None else f"solo:{city}"

    def scopes(self, intent: OrderIntent) -> tuple[Scope, ...]:
        """The scopes an intent falls under, broadest first."""
        return self.market_scopes(intent.city, intent.market_ticker)

    def market_scopes(self, city: str, market_ticker: str) -> tuple[Scope, ...]:
        """The scopes a market of ``city`` falls under, broadest first."""
        return (
            GLOBAL,
            Scope(ScopeKind.CLUSTER, self.cluster_of(city)),
            Scope(ScopeKind.CITY, city),
            Scope(ScopeKind.MARKET, market_ticker),
        )

    def check(self, intent: OrderIntent, portfolio: PortfolioState, clock: Clock) -> RiskDecision:
        """Decide ALLOW / RESIZE / DENY for an order intent against a portfolio snapshot."""
        now = clock.now()
        caps = self.limits.caps
        step = caps.count_step
        inputs = {
            "market": intent.market_ticker,
            "event": intent.event_ticker,
            "city": intent.city,
            "side": intent.side.value,
            "action": intent.action.value,
            "count": str(intent.count),
            "limit_price": str(intent.limit_price),
            "fee_type": intent.fee_model.fee_type.value,
            "fee_multiplier": str(intent.fee_model.multiplier),
            "model_probability": str(intent.model_probability),
            "equity": str(portfolio.equity),
            "high_water_mark": str(portfolio.high_water_mark),
        }
        version = self.clusters.version if self.clusters is not None else ""

        def decide(
            action: DecisionAction,
            reason: ReasonCode,
            approved: Decimal = ZERO,
            *,
            state: TradingState = TradingState.ACTIVE,
            trips: tuple[str, ...] = (),
            usage: tuple[CapUsage, ...] = (),
            detail: str = "",
        ) -> RiskDecision:
            return RiskDecision(
                intent.intent_id,
                action,
                reason,
                intent.count,
                approved,
                now,
                intent.limit_price if approved > 0 else None,
                state,
                trips,
                usage,
                inputs,
                version,
                detail,
            )

        deny = DecisionAction.DENY
        problem = _validate(intent, step)
        if problem:
            return decide(deny, ReasonCode.INVALID_ORDER, detail=problem)
        known = portfolio.events.get(intent.event_ticker)
        if known is not None and known.city not in ("", intent.city):
            return decide(
                deny, ReasonCode.INVALID_ORDER, detail=f"event city {known.city} != {intent.city}"
            )
        if now >= intent.close_time:
            return decide(deny, ReasonCode.MARKET_CLOSED, detail=f"closed {intent.close_time}")

        scopes = self.scopes(intent)
        actual = portfolio.actual_position(intent.market_ticker)
        delta = intent.yes_delta
        reduces = actual.contracts != 0 and (actual.contracts > 0) != (delta > 0)

        # Stale data halts the market (book) or the city (forecast); the trip latches.
        lim = self.breakers.limits
        if intent.quote_time is None or now - intent.quote_time > lim.max_quote_age:
            self.breakers.observe_data_age(
                BreakerKind.STALE_MARKET_DATA, scopes[3], intent.quote_time, now
            )
        edge_driven = intent.model_probability is not None and not reduces
        if edge_driven and (
            intent.forecast_time is None or now - intent.forecast_time > lim.max_forecast_age
        ):
            self.breakers.observe_data_age(
                BreakerKind.STALE_WEATHER_DATA, scopes[2], intent.forecast_time, now
            )

        state, governing = self.breakers.governing(scopes)
        trip_names = tuple(f"{t.kind}@{t.scope}" for t in governing)
        if state is TradingState.HALTED:
            kinds = {t.kind for t in governing}
            reason = ReasonCode.TRADING_HALTED
            if kinds == {BreakerKind.STALE_MARKET_DATA}:
                reason = ReasonCode.STALE_MARKET_DATA
            elif kinds == {BreakerKind.STALE_WEATHER_DATA}:
                reason = ReasonCode.STALE_WEATHER_DATA
            return decide(deny, reason, state=state, trips=trip_names)

        limit_count = intent.count
        binding = ReasonCode.OK
        if state is TradingState.REDUCING:
            if not reduces:
                return decide(deny, ReasonCode.TRADING_REDUCING, state=state, trips=trip_names)
            if limit_count > abs(actual.contracts):
                limit_count = abs(actual.contracts)
                binding = ReasonCode.REDUCE_ONLY_RESIZED

        # Per-order caps.
        if limit_count > caps.per_order_contracts:
            limit_count = floor_to_step(caps.per_order_contracts, step)
            binding = ReasonCode.ORDER_CONTRACTS_CAP
        price = intent.limit_price
        fee_model = intent.fee_model
        if limit_count > 0 and _notional(limit_count, price, fee_model) > caps.per_order_notional:
            limit_count = _largest(
                limit_count,
                step,
                lambda n: _notional(n, price, fee_model) <= caps.per_order_notional,
            )
            binding = ReasonCode.ORDER_NOTIONAL_CAP

        # Worst-case-loss caps.
        layers = self._layers(intent, portfolio)

        def fits(n: Decimal) -> bool:
            return all(after <= max(cap, before) for _, _, cap, before, after in layers(n))

        if limit_count > 0 and not fits(limit_count):
            limit_count = _largest(limit_count, step, fits)
            over = [
                layer
                for layer, _, cap, before, after in layers(limit_count + step)
                if after > max(cap, before)
            ]
            binding = _LAYER_REASON[over[0]] if over else binding

        # Edge after fees at the approved size (only for orders that add exposure).
        if intent.model_probability is not None and not reduces and limit_count > 0:
            edge = Decimal(repr(intent.model_probability)) - (
                price + fee_model.taker_fee(limit_count, price) / limit_count
            )
            inputs["edge_after_fees"] = str(edge)
            if edge < self.limits.sizing.min_edge:
                return decide(
                    deny,
                    ReasonCode.EDGE_BELOW_MINIMUM,
                    state=state,
                    trips=trip_names,
                    detail=f"edge {edge} < {self.limits.sizing.min_edge}",
                )

        usage = tuple(
            CapUsage(layer, key, cap, before, after)
            for layer, key, cap, before, after in layers(limit_count)
        )
        if limit_count <= 0:
            reason = binding if binding is not ReasonCode.OK else ReasonCode.BELOW_MINIMUM_SIZE
            return decide(deny, reason, state=state, trips=trip_names, usage=usage)
        if limit_count < intent.count:
            return decide(
                DecisionAction.RESIZE,
                binding,
                limit_count,
                state=state,
                trips=trip_names,
                usage=usage,
            )
        return decide(
            DecisionAction.ALLOW,
            ReasonCode.OK,
            limit_count,
            state=state,
            trips=trip_names,
            usage=usage,
        )

    def approve(
        self, intent: OrderIntent, portfolio: PortfolioState, clock: Clock
    ) -> ApprovedOrder:
        """Check an intent and return it at the approved count; raise if denied.

        Raises
        ------
        RiskRejection
            With the decision's reason code when the engine denies the order.
        """
        decision = self.check(intent, portfolio, clock)
        decision.raise_if_denied()
        return ApprovedOrder(replace(intent, count=decision.approved), decision)

    def plan(
        self,
        event: EventOpportunity,
        portfolio: PortfolioState,
        clock: Clock,
        intent_id: Callable[[SizedLeg], str],
        *,
        pending: Sequence[PendingOrder] = (),
    ) -> tuple[SizingResult, list[tuple[OrderIntent, RiskDecision]]]:
        """Size an event's brackets jointly, then pass every leg through :meth:`check`.

        The bankroll is the portfolio's equity; the Kelly stake is scaled by ``n_eff / n`` of
        the city's cluster among the cities already at risk. Each approved leg is counted
        as a resting order before the next leg is checked. When a cap would cut the plan,
        all legs are shrunk by one common factor (bisection) so they keep their proportions.
        ``pending`` must be the resting orders ``portfolio`` was built with.
        """
        scale = 1.0
        if self.clusters is not None:
            scale = self.clusters.correlation_scale(event.city, portfolio.cities())
        sized = size_event(
            event,
            portfolio.equity,
            self.limits.sizing,
            correlation_scale=scale,
            count_step=self.limits.caps.count_step,
        )
        by_ticker = {b.market_ticker: b for b in event.brackets}
        step = self.limits.caps.count_step

        def run(factor: Decimal) -> list[tuple[OrderIntent, RiskDecision]]:
            out: list[tuple[OrderIntent, RiskDecision]] = []
            resting = list(pending)
            state = portfolio
            for leg in sized.legs:
                count = floor_to_step(leg.count * factor, step)
                if count <= 0:
                    continue
                intent = leg_to_intent(leg, by_ticker[leg.market_ticker], intent_id(leg))
                intent = replace(intent, count=count)
                decision = self.check(intent, state, clock)
                out.append((intent, decision))
                if decision.allowed:
                    resting.append(PendingOrder.from_intent(intent, decision.approved))
                    state = PortfolioState.build(
                        portfolio.actual or {},
                        portfolio.events,
                        portfolio.market_event,
                        equity=portfolio.equity,
                        high_water_mark=portfolio.high_water_mark,
                        pending=resting,
                    )
            return out

        def full(result: list[tuple[OrderIntent, RiskDecision]]) -> bool:
            return all(d.action is DecisionAction.ALLOW for _, d in result)

        out = run(ONE)
        capped = any(d.reason in _CAP_REASONS for _, d in out)
        if full(out) or not capped:
            return sized, out
        # A cap binds: shrink all legs together so the joint plan keeps its proportions.
        lo, hi, best = ZERO, ONE, None
        for _ in range(PLAN_SEARCH_STEPS):
            mid = (lo + hi) / 2
            trial = run(mid)
            if trial and full(trial):
                lo, best = mid, trial
            else:
                hi = mid
        return sized, best if best is not None else out

    def _layers(
        self, intent: OrderIntent, portfolio: PortfolioState
    ) -> Callable[[Decimal], list[tuple[str, str, Decimal, Decimal, Decimal]]]:
        caps = self.limits.caps
        info = portfolio.event_info(intent.event_ticker, intent.market_ticker, intent.city)
        city = intent.city
        cluster = self.cluster_of(city)
        pos = portfolio.position(intent.market_ticker)
        market_before = pos.worst_case_loss()
        event_before = portfolio.event_wc.get(intent.event_ticker, ZERO)
        if intent.event_ticker not in portfolio.events or info is not portfolio.events.get(
            intent.event_ticker
        ):
            event_before = event_worst_case_loss(
                portfolio.positions, info.market_tickers, exhaustive=info.exhaustive
            )
        own_old = portfolio.event_wc.get(intent.event_ticker, ZERO)
        city_before = portfolio.city_wc.get(city, ZERO) - own_old + event_before
        cluster_before = city_before + sum(
            (
                wc
                for c, wc in portfolio.city_wc.items()
                if c != city and self.cluster_of(c) == cluster
            ),
            ZERO,
        )
        total_before = portfolio.total_wc - own_old + event_before
        delta_sign = ONE if intent.yes_delta > 0 else -ONE
        yes_price = intent.yes_price
        held = {t: portfolio.positions[t] for t in info.market_tickers if t in portfolio.positions}

        def layers(n: Decimal) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
            if n > 0:
                fee = intent.fee_model.taker_fee(n, intent.limit_price)
                new = apply_trade(pos, delta_sign * n, yes_price, fee).position
            else:
                new = pos
            view = dict(held)
            view[intent.market_ticker] = new
            event_after = event_worst_case_loss(
                view, info.market_tickers, exhaustive=info.exhaustive
            )
            d = event_after - event_before
            return [
                (
                    "market",
                    intent.market_ticker,
                    caps.per_market,
                    market_before,
                    new.worst_case_loss(),
                ),
                ("event", intent.event_ticker, caps.per_event, event_before, event_after),
                ("city", city, caps.per_city, city_before, city_before + d),
                ("cluster", cluster, caps.per_cluster, cluster_before, cluster_before + d),
                ("total", "*", caps.total, total_before, total_before + d),
            ]

        return layers


def _notional(n: Decimal, price: Decimal, fee_model: FeeModel) -> Decimal:
    return n * price + fee_model.taker_fee(n, price)


def _largest(upper: Decimal, step: Decimal, ok: Callable[[Decimal], bool]) -> Decimal:
    """Largest multiple of ``step`` in [0, upper] with ``ok`` (assumes ok holds on a prefix)."""
    hi = int(floor_to_step(upper, step) / step)
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(step * mid):
            lo = mid
        else:
            hi = mid - 1
    return step * lo


def _validate(intent: OrderIntent, step: Decimal) -> str:
    if intent.count <= 0:
        return f"count {intent.count} is not positive"
    if intent.count % step != 0:
        return f"count {intent.count} is not a multiple of {step}"
    if not ZERO < intent.limit_price < ONE:
        return f"limit price {intent.limit_price} outside (0, 1)"
    if intent.model_probability is not None and not 0.0 <= intent.model_probability <= 1.0:
        return f"model probability {intent.model_probability} outside [0, 1]"
    return ""
