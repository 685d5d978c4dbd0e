"""One decision: an event's features through the ensemble and the risk engine to order intents.

The trader (demo, paper, live) and the backtest call :func:`decide` with the same inputs, so
they run the same code from features to approved orders; only the venue and the clock differ.

The sizer recommends a target holding per bracket; :func:`decide` orders only the part of it
not already held or resting, so that deciding again in a later slot does not stack orders.
Intent ids are deterministic (:func:`~milkbot.oms.ids.intent_id`): deciding twice in one
slot, for instance after a crash and restart, yields the same ids and the OMS refuses the
repeat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from milkbot.clock import Clock
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import (
    ZERO,
    BracketOpportunity,
    EventOpportunity,
    OrderIntent,
    Side,
)
from milkbot.domain.portfolio import Action
from milkbot.features.event import EventFeatures
from milkbot.oms.ids import DEFAULT_SLOT_MINUTES, decision_slot, intent_id
from milkbot.risk.engine import ApprovedOrder, RiskDecision, RiskEngine
from milkbot.risk.exposure import PendingOrder, PortfolioState
from milkbot.risk.sizing import SizedLeg, SizingResult
from milkbot.strategies.ensemble import Ensemble, EnsembleOutput


@dataclass(frozen=True, slots=True)
class BookTop:
    """The best YES bid and ask of one market with their sizes, as seen at ``ts``."""

    yes_bid: Decimal | None
    yes_ask: Decimal | None
    yes_bid_size: Decimal
    yes_ask_size: Decimal
    ts: datetime


@dataclass(frozen=True)
class Decision:
    """Everything one decision produced, for the OMS and the audit."""

    features: EventFeatures
    output: EnsembleOutput
    opportunity: EventOpportunity
    sizing: SizingResult
    checked: tuple[tuple[OrderIntent, RiskDecision], ...]
    approved: tuple[ApprovedOrder, ...]
    slot: str

    def strategy_audit(self) -> dict[str, object]:
        """Each strategy's probabilities, uncertainty and features, and the pooled result."""
        return {
            "decision_time": self.features.decision_time.isoformat(),
            "slot": self.slot,
            "tickers": list(self.features.tickers),
            "brackets": [b.label() for b in self.features.brackets],
            "ensemble": list(self.output.probabilities),
            "weights": dict(self.output.weights),
            "strategies": {
                name: {
                    "probabilities": list(o.probabilities),
                    "uncertainty": None if math.isnan(o.uncertainty) else o.uncertainty,
                    "features": dict(o.features_used),
                }
                for name, o in sorted(self.output.outputs.items())
            },
            "opportunity": [_bracket_audit(b) for b in self.opportunity.brackets],
            "exhaustive": self.opportunity.exhaustive,
            "sizing": {
                "plan": self.sizing.plan,
                "bankroll": str(self.sizing.bankroll),
                "correlation_scale": self.sizing.correlation_scale,
                "shrunk": dict(self.sizing.shrunk),
                "legs": [_leg_audit(leg) for leg in self.sizing.legs],
            },
        }


def _bracket_audit(b: BracketOpportunity) -> dict[str, object]:
    def dec(x: Decimal | None) -> str | None:
        return None if x is None else str(x)

    return {
        "market": b.market_ticker,
        "index": b.bracket_index,
        "probability": b.probability,
        "probability_sd": b.probability_sd,
        "yes_bid": dec(b.yes_bid),
        "yes_ask": dec(b.yes_ask),
        "yes_bid_size": str(b.yes_bid_size),
        "yes_ask_size": str(b.yes_ask_size),
        "fee_type": b.fee_model.fee_type.value,
        "fee_multiplier": str(b.fee_model.multiplier),
        "close_time": b.close_time.isoformat(),
        "quote_time": None if b.quote_time is None else b.quote_time.isoformat(),
        "forecast_time": None if b.forecast_time is None else b.forecast_time.isoformat(),
    }


def top_strategy(output: EnsembleOutput, index: int, side: Side) -> str:
    """The strategy whose weighted view contributes most to ``side`` of one bracket."""
    best, name = -1.0, "ensemble"
    for n, o in sorted(output.outputs.items()):
        p = o.probabilities[index]
        value = output.weights.get(n, 0.0) * (p if side is Side.YES else 1.0 - p)
        if value > best:
            best, name = value, n
    return name


def _leg_audit(leg: SizedLeg) -> dict[str, object]:
    return {
        "market": leg.market_ticker,
        "side": leg.side.value,
        "count": str(leg.count),
        "limit_price": str(leg.limit_price),
        "probability": leg.probability,
        "cost_per_contract": str(leg.cost_per_contract),
        "edge": str(leg.edge),
        "kelly_full": leg.kelly_full,
        "stake_fraction": leg.stake_fraction,
    }


def probability_spread(output: EnsembleOutput, index: int) -> float:
    """Disagreement of the strategies on one bracket: the standard deviation of their values."""
    values = [o.probabilities[index] for o in output.outputs.values()]
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def opportunity(
    features: EventFeatures,
    output: EnsembleOutput,
    books: Mapping[str, BookTop],
    fee_model: FeeModel,
    weather_time: datetime | None = None,
) -> EventOpportunity:
    """The event's brackets with the ensemble's probabilities and the books' tops."""
    forecast_time = _forecast_time(features)
    if weather_time is not None and (forecast_time is None or weather_time > forecast_time):
        forecast_time = weather_time
    brackets = []
    for i, ticker in enumerate(features.tickers):
        book = books.get(ticker)
        brackets.append(
            BracketOpportunity(
                market_ticker=ticker,
                event_ticker=features.event_ticker,
                city=features.city,
                bracket_index=i,
                probability=min(1.0, max(0.0, output.probabilities[i])),
                probability_sd=probability_spread(output, i),
                yes_bid=None if book is None else book.yes_bid,
                yes_ask=None if book is None else book.yes_ask,
                yes_bid_size=ZERO if book is None else book.yes_bid_size,
                yes_ask_size=ZERO if book is None else book.yes_ask_size,
                fee_model=fee_model,
                close_time=features.close_time,
                quote_time=None if book is None else book.ts,
                forecast_time=forecast_time,
            )
        )
    return EventOpportunity(
        features.event_ticker, features.city, tuple(brackets), features.is_partition
    )


def _forecast_time(features: EventFeatures) -> datetime | None:
    latest = features.latest_forecast()
    return None if latest is None else latest.issued_at


def _held(intent: OrderIntent, holdings: Mapping[str, Decimal]) -> Decimal:
    """Contracts of the intent's side already held or resting in its market."""
    signed = holdings.get(intent.market_ticker, ZERO)
    return max(signed, ZERO) if intent.side is Side.YES else max(-signed, ZERO)


def decide(
    features: EventFeatures,
    ensemble: Ensemble,
    books: Mapping[str, BookTop],
    fee_model: FeeModel,
    risk: RiskEngine,
    portfolio: PortfolioState,
    clock: Clock,
    *,
    strategy_run: str,
    holdings: Mapping[str, Decimal],
    pending: tuple[PendingOrder, ...] = (),
    slot_minutes: int = DEFAULT_SLOT_MINUTES,
    weather_time: datetime | None = None,
) -> Decision | None:
    """Decide what to order for one event now; None when no strategy has inputs.

    ``holdings`` maps a market to its signed YES position plus resting orders (positive YES,
    negative NO); only the part of each sized leg beyond it is ordered. ``pending`` are the
    resting orders ``portfolio`` was built with. ``weather_time`` is when the newest weather
    input was observed (the forecast time the risk engine checks for staleness); by default
    the issue time of the newest forecast in ``features``.
    """
    output = ensemble.predict(features)
    if output is None:
        return None
    opp = opportunity(features, output, books, fee_model, weather_time)
    slot = decision_slot(clock.now(), slot_minutes)

    def ids(leg: SizedLeg) -> str:
        return intent_id(strategy_run, leg.market_ticker, leg.side, Action.BUY, slot)

    sizing, checked = risk.plan(opp, portfolio, clock, ids, pending=pending)
    approved = []
    for intent, decision in checked:
        if not decision.allowed:
            continue
        wanted = decision.approved - _held(intent, holdings)
        if wanted <= 0:
            continue
        count = min(wanted, decision.approved)
        net = replace(
            decision,
            approved=count,
            detail=(decision.detail + f" net of {_held(intent, holdings)} held").strip(),
        )
        approved.append(ApprovedOrder(replace(intent, count=count), net))
    return Decision(features, output, opp, sizing, tuple(checked), tuple(approved), slot)
