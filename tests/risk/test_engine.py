"""The risk engine: caps as worst-case loss, trading states, staleness, edge, reason codes."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import Action, CancelIntent, Side
from milkbot.errors import RiskRejection
from milkbot.risk.breakers import GLOBAL, BreakerKind, Scope, ScopeKind, TradingState
from milkbot.risk.clusters import ClusterMap
from milkbot.risk.engine import DecisionAction, ReasonCode, RiskEngine
from milkbot.risk.exposure import PendingOrder, PortfolioState
from milkbot.risk.limits import CapLimits, RiskLimits
from tests.risk.conftest import (
    NOW,
    clock,
    event_ticker,
    fill_decision,
    intent,
    ledger_with_events,
    market_ticker,
    state_of,
)

NO_FEES = FeeModel(multiplier=D(0))
BIG = D(10_000)


def engine(**caps: D) -> RiskEngine:
    base = {
        "per_market": BIG,
        "per_event": BIG,
        "per_city": BIG,
        "per_cluster": BIG,
        "total": BIG,
        "per_order_notional": BIG,
        "per_order_contracts": BIG,
    }
    base.update(caps)
    return RiskEngine.create(RiskLimits(caps=CapLimits(**base)))


def cluster_map(groups: dict[str, list[str]]) -> ClusterMap:
    cities = tuple(sorted(c for cs in groups.values() for c in cs))
    assignment = {c: g for g, cs in groups.items() for c in cs}
    corr = tuple(
        tuple(1.0 if a == b or assignment[a] == assignment[b] else 0.0 for b in cities)
        for a in cities
    )
    return ClusterMap("test", NOW, NOW.date(), NOW.date(), cities, assignment, corr)


def test_plain_order_is_allowed_with_caps_and_headroom() -> None:
    eng = RiskEngine.create()
    led = ledger_with_events(["NYC"])
    clk = clock()
    d = eng.check(intent(count=10, price="0.40"), state_of(led, clk), clk)
    assert (d.action, d.reason, d.approved) == (DecisionAction.ALLOW, ReasonCode.OK, D(10))
    # 10 YES at 0.40 + fee ceil(0.07*10*0.4*0.6 = 0.168) = 0.17 -> worst case 4.17
    layers = {c.layer: c for c in d.caps}
    assert set(layers) == {"market", "event", "city", "cluster", "total"}
    assert layers["market"].after == D("4.17")
    assert layers["market"].headroom == D("50") - D("4.17")
    assert layers["event"].after == D("4.17")
    assert d.limit_price == D("0.40")
    json.dumps(d.to_audit())
    d.raise_if_denied()


def test_market_cap_resizes_by_hand() -> None:
    # cap $5 at 0.40: 12 cost 4.80 + ceil(0.2016)=0.21 = 5.01 > 5; 11 cost 4.40 + 0.19 = 4.59
    eng = engine(per_market=D(5))
    led = ledger_with_events(["NYC"])
    clk = clock()
    d = eng.check(intent(count=20, price="0.40"), state_of(led, clk), clk)
    assert (d.action, d.reason, d.requested, d.approved) == (
        DecisionAction.RESIZE,
        ReasonCode.MARKET_CAP,
        D(20),
        D(11),
    )


def test_per_order_notional_and_contract_caps() -> None:
    # $3 notional at 0.40: 7 cost 2.80 + ceil(0.1176)=0.12 = 2.92; 8 cost 3.20 + ...
    clk = clock()
    led = ledger_with_events(["NYC"])
    d = engine(per_order_notional=D(3)).check(intent(count=20), state_of(led, clk), clk)
    assert (d.reason, d.approved) == (ReasonCode.ORDER_NOTIONAL_CAP, D(7))
    d = engine(per_order_contracts=D(5)).check(intent(count=20), state_of(led, clk), clk)
    assert (d.reason, d.approved) == (ReasonCode.ORDER_CONTRACTS_CAP, D(5))


def test_event_cap_is_worst_case_over_the_winning_bracket() -> None:
    # No fees. YES 10 @ 0.15 on B0..B4 costs 7.50; if B5 wins we lose 7.50.
    # Adding YES 10 @ 0.15 on B5 makes the cost 9.00 but one bracket always pays 10:
    # the event worst case drops to 0, so an $8 event cap allows it (notional 9 > 8).
    eng = engine(per_event=D(8))
    led = ledger_with_events(["NYC"])
    clk = clock()
    for b in range(5):
        it = intent(bracket=b, price="0.15", fee_model=NO_FEES)
        d = eng.check(it, state_of(led, clk), clk)
        assert d.action is DecisionAction.ALLOW
        fill_decision(led, it, d, f"f{b}")
    assert led.event_worst_case_loss(event_ticker("NYC")) == D("7.50")
    last = intent(bracket=5, price="0.15", fee_model=NO_FEES)
    d = eng.check(last, state_of(led, clk), clk)
    assert d.action is DecisionAction.ALLOW
    assert {c.layer: c.after for c in d.caps}["event"] == 0


def test_event_cap_denies_when_full() -> None:
    eng = engine(per_event=D(4))
    led = ledger_with_events(["NYC"])
    clk = clock()
    first = intent(bracket=0, count=10, price="0.40", fee_model=NO_FEES)
    fill_decision(led, first, eng.check(first, state_of(led, clk), clk), "f1")
    # The first order used 4.00 of the 4.00 event cap; B1 would add loss if B2..B5 wins.
    d = eng.check(intent(bracket=1, price="0.30"), state_of(led, clk), clk)
    assert (d.action, d.reason, d.approved) == (DecisionAction.DENY, ReasonCode.EVENT_CAP, 0)
    with pytest.raises(RiskRejection) as err:
        d.raise_if_denied()
    assert err.value.reason == "EVENT_CAP"


def test_city_cluster_and_total_caps_sum_events() -> None:
    clk = clock()
    clusters = cluster_map({"east": ["NYC", "PHIL"], "tx": ["AUS"]})

    def eng(**caps: D) -> RiskEngine:
        e = engine(**caps)
        e.clusters = clusters
        return e

    led = ledger_with_events(["NYC", "PHIL", "AUS"], days=2)
    # $4 on NYC day 1 (no fees)
    it = intent("NYC", 0, count=10, price="0.40", fee_model=NO_FEES)
    fill_decision(led, it, eng().check(it, state_of(led, clk), clk), "a")
    # city cap $6: NYC day 2 gets only $2 -> 5 contracts at 0.40
    d = eng(per_city=D(6)).check(
        intent("NYC", 0, day=2, price="0.40", fee_model=NO_FEES), state_of(led, clk), clk
    )
    assert (d.reason, d.approved) == (ReasonCode.CITY_CAP, D(5))
    # cluster cap $6: PHIL is in NYC's cluster -> same $2 left
    d = eng(per_cluster=D(6)).check(
        intent("PHIL", 0, price="0.40", fee_model=NO_FEES), state_of(led, clk), clk
    )
    assert (d.reason, d.approved) == (ReasonCode.CLUSTER_CAP, D(5))
    # AUS is its own cluster: the cluster cap does not bind, the total cap does
    d = eng(per_cluster=D(6)).check(
        intent("AUS", 0, price="0.40", fee_model=NO_FEES), state_of(led, clk), clk
    )
    assert d.action is DecisionAction.ALLOW
    d = eng(total=D(6)).check(
        intent("AUS", 0, price="0.40", fee_model=NO_FEES), state_of(led, clk), clk
    )
    assert (d.reason, d.approved) == (ReasonCode.TOTAL_CAP, D(5))


def test_orders_that_reduce_exposure_pass_a_full_cap() -> None:
    eng = engine(per_market=D(4))
    led = ledger_with_events(["NYC"])
    clk = clock()
    it = intent(count=10, price="0.40", fee_model=NO_FEES)
    fill_decision(led, it, eng.check(it, state_of(led, clk), clk), "a")
    d = eng.check(intent(action=Action.SELL, count=4, price="0.35"), state_of(led, clk), clk)
    assert (d.action, d.approved) == (DecisionAction.ALLOW, D(4))


def test_halted_scopes_deny_and_cancels_pass() -> None:
    clk = clock()
    led = ledger_with_events(["NYC", "CHI"])
    for scope in (
        GLOBAL,
        Scope(ScopeKind.CITY, "NYC"),
        Scope(ScopeKind.CLUSTER, "solo:NYC"),
        Scope(ScopeKind.MARKET, market_ticker("NYC", 0)),
    ):
        eng = RiskEngine.create()
        eng.breakers.halt(scope, "ops", "test", NOW)
        d = eng.check(intent("NYC", 0), state_of(led, clk), clk)
        assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.TRADING_HALTED)
        assert d.state is TradingState.HALTED
        assert d.trips == (f"MANUAL@{scope}",)
        c = eng.check_cancel(CancelIntent("o1", market_ticker("NYC", 0)), clk)
        assert (c.action, c.reason) == (DecisionAction.ALLOW, ReasonCode.CANCEL_ALWAYS_ALLOWED)
        other = eng.check(intent("CHI", 0), state_of(led, clk), clk)
        assert other.allowed is (scope != GLOBAL)


def test_reducing_allows_only_exposure_reducing_orders() -> None:
    eng = RiskEngine.create()
    clk = clock()
    led = ledger_with_events(["NYC"])
    it = intent(count=10)
    fill_decision(led, it, eng.check(it, state_of(led, clk), clk), "a")
    eng.breakers.trip(BreakerKind.DRAWDOWN, GLOBAL, TradingState.REDUCING, NOW)
    st_ = state_of(led, clk)
    d = eng.check(intent(count=5), st_, clk)
    assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.TRADING_REDUCING)
    d = eng.check(intent(bracket=1, count=5), st_, clk)
    assert d.reason is ReasonCode.TRADING_REDUCING
    d = eng.check(intent(action=Action.SELL, count=4), st_, clk)
    assert (d.action, d.approved) == (DecisionAction.ALLOW, D(4))
    # Buying 25 NO against +10 YES would flip the position: capped at 10.
    d = eng.check(intent(side=Side.NO, count=25, price="0.55"), st_, clk)
    assert (d.action, d.reason, d.approved) == (
        DecisionAction.RESIZE,
        ReasonCode.REDUCE_ONLY_RESIZED,
        D(10),
    )


def test_stale_quote_trips_a_latched_market_breaker() -> None:
    eng = RiskEngine.create()
    clk = clock()
    led = ledger_with_events(["NYC"])
    old = NOW - timedelta(minutes=3)
    d = eng.check(intent(quote_time=old), state_of(led, clk), clk)
    assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.STALE_MARKET_DATA)
    # Fresh data does not clear the latch; other markets are unaffected.
    assert eng.check(intent(), state_of(led, clk), clk).reason is ReasonCode.STALE_MARKET_DATA
    assert eng.check(intent(bracket=1), state_of(led, clk), clk).allowed
    assert eng.check(intent(quote_time=None, bracket=2), state_of(led, clk), clk).reason is (
        ReasonCode.STALE_MARKET_DATA
    )
    eng.breakers.reset(Scope(ScopeKind.MARKET, market_ticker("NYC", 0)), "ops", "feed ok", NOW)
    assert eng.check(intent(), state_of(led, clk), clk).allowed


def test_stale_forecast_halts_the_city_for_edge_driven_orders() -> None:
    eng = RiskEngine.create()
    clk = clock()
    led = ledger_with_events(["NYC"])
    old = NOW - timedelta(hours=9)
    d = eng.check(intent(prob=0.6, forecast_time=old), state_of(led, clk), clk)
    assert d.reason is ReasonCode.STALE_WEATHER_DATA
    assert eng.breakers.state(Scope(ScopeKind.CITY, "NYC")) is TradingState.HALTED
    assert eng.check(intent(bracket=3), state_of(led, clk), clk).reason is (
        ReasonCode.STALE_WEATHER_DATA
    )


def test_min_edge_after_fees_by_hand() -> None:
    # 10 at 0.40: fee 0.17 -> cost 0.417. p=0.45: edge 0.033 >= 0.03; p=0.44: 0.023 < 0.03
    eng = RiskEngine.create()
    clk = clock()
    led = ledger_with_events(["NYC"])
    ok = eng.check(intent(prob=0.45), state_of(led, clk), clk)
    assert ok.action is DecisionAction.ALLOW
    assert D(ok.inputs["edge_after_fees"]) == D("0.45") - D("0.417")
    bad = eng.check(intent(prob=0.44), state_of(led, clk), clk)
    assert (bad.action, bad.reason) == (DecisionAction.DENY, ReasonCode.EDGE_BELOW_MINIMUM)


def test_closed_market_and_invalid_orders() -> None:
    eng = RiskEngine.create()
    led = ledger_with_events(["NYC"])
    clk = clock()
    clk.advance(timedelta(days=1))
    d = eng.check(intent(quote_time=clk.now()), state_of(led, clk), clk)
    assert d.reason is ReasonCode.MARKET_CLOSED
    clk = clock()
    for bad in (intent(count="1.5"), intent(price="1.00"), intent(prob=1.5)):
        assert eng.check(bad, state_of(led, clk), clk).reason is ReasonCode.INVALID_ORDER
    assert eng.check(intent(city="CHI"), state_of(led, clk), clk).allowed
    wrong_city = intent(city="CHI")
    object.__setattr__(wrong_city, "event_ticker", event_ticker("NYC"))
    assert eng.check(wrong_city, state_of(led, clk), clk).reason is ReasonCode.INVALID_ORDER


def test_pending_orders_count_against_caps() -> None:
    eng = engine(per_market=D(5))
    led = ledger_with_events(["NYC"])
    clk = clock()
    first = intent(count=10, price="0.40", fee_model=NO_FEES)
    d = eng.check(first, state_of(led, clk), clk)
    pending = [PendingOrder.from_intent(first, d.approved)]
    d2 = eng.check(
        intent(count=10, price="0.40", fee_model=NO_FEES), state_of(led, clk, pending), clk
    )
    assert (d2.reason, d2.approved) == (ReasonCode.MARKET_CAP, D(2))


# -- properties ------------------------------------------------------------------------

CITIES = ["NYC", "PHIL", "AUS"]
CLUSTERS = cluster_map({"east": ["NYC", "PHIL"], "tx": ["AUS"]})
TIGHT = CapLimits(
    per_market=D(8),
    per_event=D(12),
    per_city=D(18),
    per_cluster=D(25),
    total=D(30),
    per_order_notional=D(6),
    per_order_contracts=D(40),
)

orders = st.lists(
    st.tuples(
        st.sampled_from(CITIES),
        st.integers(1, 2),  # day
        st.integers(0, 5),  # bracket
        st.sampled_from(list(Side)),
        st.sampled_from(list(Action)),
        st.integers(1, 60),
        st.integers(1, 99),
    ),
    min_size=1,
    max_size=40,
)


def _measure(led, eng: RiskEngine) -> dict[tuple[str, str], D]:
    st_ = PortfolioState.from_ledger(led, led.mark({}, NOW))
    out: dict[tuple[str, str], D] = {("total", "*"): st_.total_wc}
    for t, p in led.positions.items():
        out[("market", t)] = p.worst_case_loss()
    for e, wc in st_.event_wc.items():
        out[("event", e)] = wc
    for c, wc in st_.city_wc.items():
        out[("city", c)] = wc
        key = ("cluster", eng.cluster_of(c))
        out[key] = out.get(key, D(0)) + wc
    return out


@settings(max_examples=120, deadline=None)
@given(orders)
def test_no_sequence_of_decisions_exceeds_a_cap(seq) -> None:
    eng = RiskEngine(RiskLimits(caps=TIGHT), RiskEngine.create().breakers, CLUSTERS)
    led = ledger_with_events(CITIES, days=2)
    clk = clock()
    caps = {
        "market": TIGHT.per_market,
        "event": TIGHT.per_event,
        "city": TIGHT.per_city,
        "cluster": TIGHT.per_cluster,
        "total": TIGHT.total,
    }
    for i, (city, day, b, side, action, n, cents) in enumerate(seq):
        it = intent(city, b, day=day, side=side, action=action, count=n, price=f"{cents / 100:.2f}")
        d = eng.check(it, state_of(led, clk), clk)
        assert d.approved <= it.count
        if d.allowed:
            notional = d.approved * it.limit_price + it.fee_model.taker_fee(
                d.approved, it.limit_price
            )
            assert notional <= TIGHT.per_order_notional
            fill_decision(led, it, d, f"f{i}")
        for (layer, _key), wc in _measure(led, eng).items():
            assert wc <= caps[layer], (layer, _key, wc)


@settings(max_examples=80, deadline=None)
@given(
    orders,
    st.lists(
        st.tuples(
            st.sampled_from(list(ScopeKind)),
            st.sampled_from(CITIES),
            st.integers(0, 5),
            st.sampled_from([TradingState.HALTED, TradingState.REDUCING]),
        ),
        max_size=4,
    ),
)
def test_halted_scope_never_gets_an_order_and_reducing_only_reduces(seq, trips) -> None:
    eng = RiskEngine(RiskLimits(caps=TIGHT), RiskEngine.create().breakers, CLUSTERS)
    for kind, city, b, state in trips:
        key = {
            ScopeKind.GLOBAL: "*",
            ScopeKind.CLUSTER: CLUSTERS.cluster_of(city),
            ScopeKind.CITY: city,
            ScopeKind.MARKET: market_ticker(city, b),
        }[kind]
        eng.breakers.trip(BreakerKind.MANUAL, Scope(kind, key), state, NOW)
    led = ledger_with_events(CITIES, days=2)
    clk = clock()
    for i, (city, day, b, side, action, n, cents) in enumerate(seq):
        it = intent(city, b, day=day, side=side, action=action, count=n, price=f"{cents / 100:.2f}")
        before = led.positions.get(it.market_ticker)
        d = eng.check(it, state_of(led, clk), clk)
        state = eng.breakers.governing(eng.scopes(it))[0]
        if state is TradingState.HALTED:
            assert d.action is DecisionAction.DENY
        if d.allowed:
            fill_decision(led, it, d, f"f{i}")
            if state is TradingState.REDUCING:
                after = led.positions.get(it.market_ticker)
                assert before is not None and after is not None
                assert abs(after.contracts) < abs(before.contracts)
                assert after.contracts * before.contracts >= 0
        c = eng.check_cancel(CancelIntent(f"o{i}", it.market_ticker), clk)
        assert c.action is DecisionAction.ALLOW


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(CITIES), st.integers(0, 5), st.integers(1, 60), st.integers(1, 99)
        ),
        max_size=30,
    )
)
def test_resting_orders_never_exceed_caps(seq) -> None:
    """Approved buys that rest unfilled count as if filled: the caps still hold."""
    eng = RiskEngine(RiskLimits(caps=TIGHT), RiskEngine.create().breakers, CLUSTERS)
    led = ledger_with_events(CITIES)
    clk = clock()
    pending: list[PendingOrder] = []
    for city, b, n, cents in seq:
        it = intent(city, b, count=n, price=f"{cents / 100:.2f}")
        d = eng.check(it, state_of(led, clk, pending), clk)
        if d.allowed:
            pending.append(PendingOrder.from_intent(it, d.approved))
        s = state_of(led, clk, pending)
        assert s.total_wc <= TIGHT.total
        assert all(wc <= TIGHT.per_event for wc in s.event_wc.values())
        assert all(p.worst_case_loss() <= TIGHT.per_market for p in s.positions.values())


def _event_opportunity(city: str, probs: list[float], asks: list[str]):
    from milkbot.domain.intents import BracketOpportunity, EventOpportunity
    from tests.risk.conftest import CLOSE, FEES

    brackets = tuple(
        BracketOpportunity(
            market_ticker(city, i),
            event_ticker(city),
            city,
            i,
            p,
            0.0,
            D(a) - D("0.02"),
            D(a),
            D(500),
            D(500),
            FEES,
            CLOSE,
            NOW,
            NOW,
        )
        for i, (p, a) in enumerate(zip(probs, asks, strict=True))
    )
    return EventOpportunity(event_ticker(city), city, brackets, exhaustive=True)


def test_plan_sizes_jointly_and_checks_every_leg() -> None:
    eng = engine(per_event=D(30))
    led = ledger_with_events(["NYC"])
    clk = clock()
    ev = _event_opportunity(
        "NYC",
        [0.05, 0.15, 0.40, 0.30, 0.08, 0.02],
        ["0.06", "0.16", "0.25", "0.22", "0.10", "0.03"],
    )
    sized, decisions = eng.plan(ev, state_of(led, clk), clk, lambda leg: f"i-{leg.market_ticker}")
    assert sized.plan == "yes-set"
    assert [it.market_ticker for it, _ in decisions] == [leg.market_ticker for leg in sized.legs]
    assert {it.market_ticker for it, _ in decisions} == {
        market_ticker("NYC", 2),
        market_ticker("NYC", 3),
    }
    # Kelly wants 227 + 171 contracts (about $100); the $30 event cap shrinks both legs by one
    # factor: 69 at 0.25 (+0.91 fee) and 51 at 0.22 (+0.62) = $30.00 at risk if another
    # bracket wins.
    assert [(it.count, d.action) for it, d in decisions] == [
        (D(69), DecisionAction.ALLOW),
        (D(51), DecisionAction.ALLOW),
    ]
    assert [leg.count for leg in sized.legs] == [D(227), D(171)]
    assert [c.after for c in decisions[1][1].caps if c.layer == "event"] == [D("30.00")]
    assert decisions[0][0].intent_id == f"i-{decisions[0][0].market_ticker}"


def test_plan_scales_kelly_by_effective_number_of_bets() -> None:
    clusters = cluster_map({"east": ["NYC", "PHIL"]})
    clusters = ClusterMap(
        "t",
        NOW,
        NOW.date(),
        NOW.date(),
        ("NYC", "PHIL"),
        {"NYC": "east", "PHIL": "east"},
        ((1.0, 0.6), (0.6, 1.0)),
    )
    led = ledger_with_events(["NYC", "PHIL"])
    clk = clock()
    probs, asks = (
        [0.05, 0.15, 0.40, 0.30, 0.08, 0.02],
        ["0.06", "0.16", "0.25", "0.22", "0.10", "0.03"],
    )
    alone = engine()
    alone.clusters = clusters
    s_alone, _ = alone.plan(_event_opportunity("NYC", probs, asks), state_of(led, clk), clk, str)
    assert s_alone.correlation_scale == 1.0
    # PHIL already has exposure: NYC's bet is scaled by n_eff / n = (2 / 1.6) / 2 = 0.625
    it = intent("PHIL", 0, count=10, price="0.30")
    fill_decision(led, it, alone.check(it, state_of(led, clk), clk), "p")
    s_corr, _ = alone.plan(_event_opportunity("NYC", probs, asks), state_of(led, clk), clk, str)
    assert s_corr.correlation_scale == pytest.approx(0.625)
    assert sum(leg.count for leg in s_corr.legs) < sum(leg.count for leg in s_alone.legs)


def test_resting_orders_are_not_positions_to_reduce() -> None:
    eng = RiskEngine.create()
    led = ledger_with_events(["NYC"])
    clk = clock()
    buy = intent(count=10)
    pending = [PendingOrder.from_intent(buy)]
    eng.breakers.trip(BreakerKind.MANUAL, GLOBAL, TradingState.REDUCING, NOW)
    d = eng.check(intent(action=Action.SELL, count=5), state_of(led, clk, pending), clk)
    assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.TRADING_REDUCING)


def test_fractional_counts_with_fp_step() -> None:
    eng = RiskEngine.create(RiskLimits(caps=CapLimits(per_market=D(5), count_step=D("0.01"))))
    led = ledger_with_events(["NYC"])
    clk = clock()
    # $5 at 0.40: 12.01 costs 4.804 + ceil(0.2017...) = 0.21 -> 5.014 > 5;
    # 11.98 costs 4.792 + ceil(0.20126) = 0.21 -> 5.002 > 5; 11.97 costs 4.788 + 0.21 = 4.998
    d = eng.check(intent(count="20.00"), state_of(led, clk), clk)
    assert (d.reason, d.approved) == (ReasonCode.MARKET_CAP, D("11.97"))
    assert eng.check(intent(count="0.005"), state_of(led, clk), clk).reason is (
        ReasonCode.INVALID_ORDER
    )


def test_approve_returns_the_resized_order_or_raises() -> None:
    from milkbot.risk.engine import ApprovedOrder

    eng = engine(per_market=D(5))
    led = ledger_with_events(["NYC"])
    clk = clock()
    order = eng.approve(intent(count=20, price="0.40"), state_of(led, clk), clk)
    assert (order.intent.count, order.decision.reason) == (D(11), ReasonCode.MARKET_CAP)
    eng.breakers.halt(GLOBAL, "ops", "test", NOW)
    with pytest.raises(RiskRejection) as err:
        eng.approve(intent(), state_of(led, clk), clk)
    assert err.value.reason == "TRADING_HALTED"
    with pytest.raises(RiskRejection):
        ApprovedOrder(intent(count=20), order.decision)
