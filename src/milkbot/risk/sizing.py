"""Fee-aware fractional Kelly sizing for the mutually exclusive brackets of one event.

Cost per contract is the price plus the taker fee per contract at the actual count; the fee
is rounded up per order, so counts and costs are solved together by iteration.

Joint sizing uses the horse-race Kelly solution (Smoczynski & Tomkins 2010) for YES bets on
mutually exclusive brackets: sort brackets by ``q_i / c_i``, add them while that ratio beats
the reserve rate ``R = (1 - sum q_S) / (1 - sum c_S)``, and stake ``f_i = q_i - R c_i`` of the
bankroll on each. A single NO bet (YES on every other bracket at once) is the alternative
plan; the plan with the higher expected log growth wins. YES and NO legs are not mixed in one
event (a known simplification).

The model probability is shrunk toward the market mid by its uncertainty: with edge
``e = p - mid`` and standard deviation ``s``, ``p' = mid + e * e^2 / (e^2 + s^2)`` (the
signal-to-noise weight, in the spirit of Baker & McHale 2013). The Kelly stakes are then
multiplied by the Kelly fraction and the correlation scale ``n_eff / n``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import (
    ONE,
    ZERO,
    Action,
    BracketOpportunity,
    EventOpportunity,
    OrderIntent,
    Side,
)
from milkbot.errors import DataError
from milkbot.risk.limits import SizingConfig

MAX_ITERATIONS = 8
MICRO = Decimal("0.000001")


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round a contract count down to a multiple of ``step``."""
    if value <= 0:
        return ZERO
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def all_in_cost(price: Decimal, count: Decimal, fee_model: FeeModel) -> Decimal:
    """Price plus the taker fee per contract when ``count`` contracts are taken at ``price``."""
    if count <= 0:
        raise DataError("count must be positive")
    return price + fee_model.taker_fee(count, price) / count


def kelly_binary(q: float, cost: float) -> float:
    """Full-Kelly bankroll fraction for a contract costing ``cost`` that pays 1 with prob ``q``.

    ``f* = (q - c) / (1 - c)`` when ``q > c``, else 0.
    """
    if cost >= 1.0 or q <= cost:
        return 0.0
    return (q - cost) / (1.0 - cost)


def shrink_probability(p: float, sd: float, market: float | None) -> float:
    """Shrink ``p`` toward the market by the signal-to-noise weight ``e^2 / (e^2 + sd^2)``."""
    if market is None or sd <= 0:
        return p
    e = p - market
    if e == 0:
        return p
    return market + e * (e * e / (e * e + sd * sd))


def horse_race_kelly(qs: Sequence[float], costs: Sequence[float]) -> tuple[list[float], float]:
    """Log-optimal stakes on mutually exclusive outcomes; return (fractions, reserve rate).

    ``qs`` are win probabilities (summing to at most 1; the remainder is "none of them"),
    ``costs`` the all-in price of a contract paying 1 on each outcome.
    """
    if len(qs) != len(costs):
        raise DataError("qs and costs differ in length")
    order = sorted((i for i in range(len(qs)) if 0 < costs[i] < 1), key=lambda i: -qs[i] / costs[i])
    chosen: list[int] = []
    reserve = 1.0
    sum_q = 0.0
    sum_c = 0.0
    for i in order:
        if qs[i] / costs[i] <= reserve or sum_c + costs[i] >= 1.0:
            break
        chosen.append(i)
        sum_q += qs[i]
        sum_c += costs[i]
        reserve = (1.0 - sum_q) / (1.0 - sum_c)
    # Adding a bet lowers the reserve; drop any that fell below it (rare, with ties).
    fractions = [0.0] * len(qs)
    for i in chosen:
        fractions[i] = max(0.0, qs[i] - reserve * costs[i])
    return fractions, reserve


def log_growth(qs: Sequence[float], stakes: Sequence[float], costs: Sequence[float]) -> float:
    """Expected log growth of staking ``stakes`` (bankroll fractions) on exclusive outcomes."""
    spent = sum(stakes)
    growth = 0.0
    for q, s, c in zip(qs, stakes, costs, strict=True):
        if q > 0:
            growth += q * math.log(max(1e-300, 1.0 - spent + (s / c if s else 0.0)))
    rest = 1.0 - sum(qs)
    if rest > 1e-12:
        growth += rest * math.log(max(1e-300, 1.0 - spent))
    return growth


@dataclass(frozen=True, slots=True)
class SizedLeg:
    """One order the sizer recommends, with the numbers behind it (for the audit)."""

    market_ticker: str
    side: Side
    count: Decimal
    limit_price: Decimal
    probability: float
    cost_per_contract: Decimal
    edge: Decimal
    kelly_full: float
    stake_fraction: float


@dataclass(frozen=True, slots=True)
class SizingResult:
    """The sizer's plan for one event."""

    event_ticker: str
    plan: str
    legs: tuple[SizedLeg, ...]
    reserve_rate: float
    growth: float
    bankroll: Decimal
    correlation_scale: float
    shrunk: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Option:
    bracket: BracketOpportunity
    side: Side
    q: float
    price: Decimal
    depth: Decimal


def _counts_for(
    options: Sequence[_Option],
    fractions: Sequence[float],
    bankroll: Decimal,
    scale: float,
    step: Decimal,
    budget: Decimal,
) -> list[Decimal]:
    counts: list[Decimal] = []
    # Rounding to a micro-dollar keeps float noise (49.9999999...) from costing a contract.
    stakes = [(Decimal(repr(f * scale)) * bankroll).quantize(MICRO) for f in fractions]
    total = sum(stakes, ZERO)
    if total > budget > 0:
        stakes = [s * budget / total for s in stakes]
    for opt, stake in zip(options, stakes, strict=True):
        counts.append(
            min(opt.depth, count_for_stake(stake, opt.price, opt.bracket.fee_model, step))
        )
    return counts


def count_for_stake(stake: Decimal, price: Decimal, fee_model: FeeModel, step: Decimal) -> Decimal:
    """Largest count whose price plus rounded-up taker fee fits in ``stake`` dollars."""
    if stake <= 0 or price <= 0:
        return ZERO
    n = floor_to_step(stake / price, step)
    for _ in range(MAX_ITERATIONS):
        if n <= 0:
            return ZERO
        fee = fee_model.taker_fee(n, price)
        if n * price + fee <= stake:
            return n
        n = min(n - step, floor_to_step((stake - fee) / price, step))
    while n > 0 and n * price + fee_model.taker_fee(n, price) > stake:
        n -= step
    return max(ZERO, n)


def _solve(
    options: Sequence[_Option], counts: Sequence[Decimal]
) -> tuple[list[float], float, list[float]]:
    costs = [
        float(all_in_cost(o.price, n if n > 0 else ONE, o.bracket.fee_model))
        for o, n in zip(options, counts, strict=True)
    ]
    fractions, reserve = horse_race_kelly([o.q for o in options], costs)
    return fractions, reserve, costs


def size_event(
    event: EventOpportunity,
    bankroll: Decimal,
    config: SizingConfig,
    *,
    correlation_scale: float = 1.0,
    count_step: Decimal = ONE,
) -> SizingResult:
    """Size the brackets of one event jointly with fee-aware fractional Kelly.

    Parameters
    ----------
    event : EventOpportunity
        The event's brackets with model probabilities and the top of the book.
    bankroll : Decimal
        Equity the Kelly fractions apply to.
    config : SizingConfig
        Kelly fraction, minimum edge after fees, per-event ceiling.
    correlation_scale : float
        ``n_eff / n`` of the cluster the city belongs to (1 for an independent bet).
    count_step : Decimal
        1 for whole contracts, 0.01 for ``_fp`` counts.
    """
    if bankroll <= 0:
        return SizingResult(event.event_ticker, "none", (), 1.0, 0.0, bankroll, correlation_scale)
    shrunk: dict[str, float] = {}
    for b in event.brackets:
        p = b.probability
        if config.shrink_to_market:
            p = shrink_probability(p, b.probability_sd, b.mid)
        shrunk[b.market_ticker] = p
    total_q = sum(shrunk.values())
    if (event.exhaustive and total_q > 0) or total_q > 1:
        shrunk = {t: q / total_q for t, q in shrunk.items()}

    scale = config.kelly_fraction * max(0.0, min(1.0, correlation_scale))
    budget = bankroll * Decimal(repr(config.max_fraction_per_event))

    yes_opts = [
        _Option(b, Side.YES, shrunk[b.market_ticker], b.yes_ask, b.yes_ask_size)
        for b in event.brackets
        if b.yes_ask is not None and b.yes_ask_size > 0
    ]
    plans: list[tuple[str, list[SizedLeg], float, float]] = []
    yes_plan = _size_options(yes_opts, bankroll, scale, budget, count_step, config.min_edge)
    if yes_plan is not None:
        plans.append(("yes-set", *yes_plan))
    for b in event.brackets:
        no_ask = b.no_ask
        if no_ask is None or b.yes_bid_size <= 0:
            continue
        q_no = sum(q for t, q in shrunk.items() if t != b.market_ticker)
        if not event.exhaustive:
            q_no = 1.0 - shrunk[b.market_ticker]
        opt = _Option(b, Side.NO, q_no, no_ask, b.yes_bid_size)
        no_plan = _size_options([opt], bankroll, scale, budget, count_step, config.min_edge)
        if no_plan is not None:
            plans.append((f"no:{b.market_ticker}", *no_plan))
    if not plans:
        return SizingResult(
            event.event_ticker, "none", (), 1.0, 0.0, bankroll, correlation_scale, shrunk
        )
    name, legs, reserve, growth = max(plans, key=lambda p: p[3])
    return SizingResult(
        event.event_ticker, name, tuple(legs), reserve, growth, bankroll, correlation_scale, shrunk
    )


def _size_options(
    options: list[_Option],
    bankroll: Decimal,
    scale: float,
    budget: Decimal,
    step: Decimal,
    min_edge: Decimal,
) -> tuple[list[SizedLeg], float, float] | None:
    opts = list(options)
    while opts:
        counts = [ONE] * len(opts)
        fractions, reserve, costs = _solve(opts, counts)
        for _ in range(MAX_ITERATIONS):
            new_counts = _counts_for(opts, fractions, bankroll, scale, step, budget)
            if new_counts == counts:
                break
            counts = new_counts
            fractions, reserve, costs = _solve(opts, counts)
        counts = _counts_for(opts, fractions, bankroll, scale, step, budget)
        # Drop legs whose edge after the fee at their own count is below the minimum.
        failing = [
            i
            for i, (o, n) in enumerate(zip(opts, counts, strict=True))
            if n > 0
            and Decimal(repr(o.q)) - all_in_cost(o.price, n, o.bracket.fee_model) < min_edge
        ]
        if failing:
            worst = min(
                failing,
                key=lambda i: (
                    Decimal(repr(opts[i].q))
                    - all_in_cost(opts[i].price, counts[i], opts[i].bracket.fee_model)
                ),
            )
            del opts[worst]
            continue
        legs: list[SizedLeg] = []
        stakes: list[float] = []
        for o, n, f, c in zip(opts, counts, fractions, costs, strict=True):
            if n <= 0:
                stakes.append(0.0)
                continue
            cost = all_in_cost(o.price, n, o.bracket.fee_model)
            stakes.append(float(n * cost / bankroll))
            legs.append(
                SizedLeg(
                    market_ticker=o.bracket.market_ticker,
                    side=o.side,
                    count=n,
                    limit_price=o.price,
                    probability=o.q,
                    cost_per_contract=cost,
                    edge=Decimal(repr(o.q)) - cost,
                    kelly_full=kelly_binary(o.q, c) if len(opts) == 1 else f,
                    stake_fraction=stakes[-1],
                )
            )
        if not legs:
            return None
        qs = [o.q for o in opts]
        growth = log_growth(qs, stakes, [float(c) for c in costs])
        return legs, reserve, growth
    return None


def leg_to_intent(leg: SizedLeg, bracket: BracketOpportunity, intent_id: str) -> OrderIntent:
    """Turn a sized leg into a buy order intent for the risk engine."""
    return OrderIntent(
        intent_id=intent_id,
        market_ticker=leg.market_ticker,
        event_ticker=bracket.event_ticker,
        city=bracket.city,
        side=leg.side,
        action=Action.BUY,
        count=leg.count,
        limit_price=leg.limit_price,
        fee_model=bracket.fee_model,
        close_time=bracket.close_time,
        model_probability=leg.probability,
        quote_time=bracket.quote_time,
        forecast_time=bracket.forecast_time,
    )
