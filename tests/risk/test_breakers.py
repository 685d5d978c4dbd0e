"""Circuit breakers driven through the real P&L path: ledger fills, settlements, marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from milkbot.domain.intents import Action, Side
from milkbot.domain.ledger import EquityPoint, Fill, Ledger, Mark
from milkbot.errors import ConfigError
from milkbot.risk.breakers import (
    GLOBAL,
    BreakerBoard,
    BreakerKind,
    Scope,
    ScopeKind,
    TradingState,
)
from milkbot.risk.engine import DecisionAction, ReasonCode, RiskEngine
from milkbot.risk.exposure import PortfolioState
from milkbot.risk.limits import BreakerLimits, CapLimits, RiskLimits
from tests.risk.conftest import FEES, NOW, clock, event_spec, intent, market_ticker

BIG = D(100_000)
OPEN_CAPS = CapLimits(BIG, BIG, BIG, BIG, BIG, BIG, BIG)


def buy(led: Ledger, fid: str, bracket: int, count: int, price: str, side: Side = Side.YES):
    p = D(price)
    led.apply_fill(
        Fill(
            fid,
            market_ticker("NYC", bracket),
            "KXHIGHNYC-25MAR01",
            side,
            Action.BUY,
            D(count),
            p,
            FEES.taker_fee(D(count), p),
            NOW,
            "NYC",
        )
    )


def setup(**limits) -> tuple[Ledger, RiskEngine]:
    if "daily_loss" in limits and "drawdown_reducing" not in limits:
        # Isolate the daily-loss breaker from the drawdown breaker.
        limits |= {"drawdown_reducing": D("0.5"), "drawdown_halted": D("0.6")}
    led = Ledger(D(1000))
    led.register_event(event_spec("NYC"))
    eng = RiskEngine.create(RiskLimits(caps=OPEN_CAPS, breakers=BreakerLimits(**limits)))
    return led, eng


def observe(led: Ledger, eng: RiskEngine, marks: dict[str, Mark], at: datetime):
    point = led.mark(marks, at)
    eng.breakers.observe_equity(point)
    return point


def mark(bid: str) -> dict[str, Mark]:
    b = D(bid)
    return {market_ticker("NYC", 0): Mark(b, b + D("0.02"))}


def decide(led: Ledger, eng: RiskEngine, at: datetime, **kw):
    clk = clock()
    clk.current = at
    point = led.mark(mark("0.35"), at)
    kw.setdefault("quote_time", at)
    kw.setdefault("forecast_time", at)
    return eng.check(intent(**kw), PortfolioState.from_ledger(led, point), clk)


def test_daily_loss_from_bad_fills_and_marks_trips_and_latches() -> None:
    led, eng = setup(daily_loss=D(100))
    t = NOW
    assert observe(led, eng, {}, t).equity == D(1000)
    # 400 YES at 0.60: cost 240 + fee ceil(0.07*400*0.24 = 6.72) = 6.72
    buy(led, "f1", 0, 400, "0.60")
    p = observe(led, eng, mark("0.40"), t + timedelta(minutes=5))
    # equity 1000 - 246.72 + 400*0.40 = 913.28 -> loss 86.72 < 100: still ACTIVE
    assert p.equity == D("913.28")
    assert eng.breakers.state(GLOBAL) is TradingState.ACTIVE
    assert decide(led, eng, t + timedelta(minutes=5)).allowed
    # mark at 0.35: equity 893.28 -> loss 106.72 >= 100: HALTED
    trips = eng.breakers.observe_equity(led.mark(mark("0.35"), t + timedelta(minutes=10)))
    assert [tr.kind for tr in trips] == [BreakerKind.DAILY_LOSS]
    assert trips[0].measure == "106.72"
    d = decide(led, eng, t + timedelta(minutes=10))
    assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.TRADING_HALTED)
    assert d.trips == ("DAILY_LOSS@global:*",)
    # The market recovers: equity back above the day's open, the breaker stays latched.
    observe(led, eng, mark("0.80"), t + timedelta(minutes=20))
    assert eng.breakers.state(GLOBAL) is TradingState.HALTED
    assert not decide(led, eng, t + timedelta(minutes=20)).allowed
    # Cancels still pass; the operator resets with who and why.
    with pytest.raises(ConfigError):
        eng.breakers.reset(GLOBAL, "", "no reason", t)
    changes = eng.breakers.reset(GLOBAL, "alice", "reviewed fills", t + timedelta(minutes=21))
    assert [(c.kind, c.old_state, c.new_state, c.operator) for c in changes] == [
        (BreakerKind.DAILY_LOSS, TradingState.HALTED, TradingState.ACTIVE, "alice")
    ]
    assert decide(led, eng, t + timedelta(minutes=21)).allowed
    assert [c.cause for c in eng.breakers.log] == ["trip", "reset"]


def test_daily_loss_is_measured_from_the_new_york_day_open() -> None:
    led, eng = setup(daily_loss=D(100))
    buy(led, "f1", 0, 400, "0.60")
    # 23:30 ET on Mar 1 = 04:30 UTC Mar 2; equity 913.28 (loss 86.72 on the day of Mar 1)
    late = datetime(2025, 3, 2, 4, 30, tzinfo=UTC)
    observe(led, eng, mark("0.40"), datetime(2025, 3, 1, 15, tzinfo=UTC))
    observe(led, eng, mark("0.40"), late)
    # 00:30 ET Mar 2: the new day opens at the last equity seen (913.28); marked at 0.20
    # equity is 833.28: a day's loss of 80, not 166.72 -> no trip.
    observe(led, eng, mark("0.20"), late + timedelta(hours=1))
    assert eng.breakers.state(GLOBAL) is TradingState.ACTIVE
    observe(led, eng, mark("0.15"), late + timedelta(hours=2))  # loss 100 -> trips
    assert eng.breakers.state(GLOBAL) is TradingState.HALTED


def test_drawdown_from_high_water_mark_reduces_then_halts_through_settlements() -> None:
    led, eng = setup(daily_loss=D(10_000), drawdown_reducing=D("0.10"))
    t = NOW
    observe(led, eng, {}, t)
    # Win: 500 YES at 0.50 cost 250 + fee ceil(8.75) = 258.75, settles YES paying 500
    # -> equity 1241.25 = HWM
    buy(led, "w", 0, 500, "0.50")
    led.settle(market_ticker("NYC", 0), Side.YES)
    p = observe(led, eng, {}, t + timedelta(hours=1))
    assert (p.equity, p.high_water_mark) == (D("1241.25"), D("1241.25"))
    # Lose: 600 YES on B1 at 0.50 (fee 10.50), marked at a 0.25 bid:
    # equity 1241.25 - 310.50 + 150 = 1080.75 -> drawdown 160.50 / 1241.25 = 12.9% -> REDUCING
    buy(led, "l", 1, 600, "0.50")
    b1 = {market_ticker("NYC", 1): Mark(D("0.25"), D("0.27"))}
    p = observe(led, eng, b1, t + timedelta(hours=2))
    assert p.equity == D("1080.75")
    assert eng.breakers.state(GLOBAL) is TradingState.REDUCING
    # REDUCING: new exposure is denied, selling the losing position is allowed.
    clk = clock()
    clk.current = t + timedelta(hours=2)
    state = PortfolioState.from_ledger(led, p)
    at = {"quote_time": clk.now(), "forecast_time": clk.now()}
    d = eng.check(intent(bracket=2, **at), state, clk)
    assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.TRADING_REDUCING)
    d = eng.check(intent(bracket=1, action=Action.SELL, count=100, price="0.25", **at), state, clk)
    assert d.allowed
    # B1 settles NO: equity 930.75 -> drawdown 310.50 / 1241.25 = 25.0% -> HALTED
    led.settle(market_ticker("NYC", 1), Side.NO)
    p = observe(led, eng, {}, t + timedelta(hours=3))
    assert p.equity == D("930.75")
    assert eng.breakers.state(GLOBAL) is TradingState.HALTED
    d = eng.check(
        intent(bracket=1, action=Action.SELL, **at), PortfolioState.from_ledger(led, p), clk
    )
    assert d.reason is ReasonCode.TRADING_HALTED
    # A reset clears the latch, but the drawdown is still there: the next mark re-trips.
    eng.breakers.reset(GLOBAL, "bob", "acknowledged", t + timedelta(hours=4))
    assert eng.breakers.state(GLOBAL) is TradingState.ACTIVE
    observe(led, eng, {}, t + timedelta(hours=5))
    assert eng.breakers.state(GLOBAL) is TradingState.HALTED


def test_confirmations_ignore_a_single_bad_tick() -> None:
    board = BreakerBoard(BreakerLimits(daily_loss=D(100), confirmations=3))
    t = NOW

    def point(eq: str, minutes: int) -> EquityPoint:
        return EquityPoint(t + timedelta(minutes=minutes), D(eq), D(1000), D(0), D(0))

    board.observe_equity(point("1000", 0))
    board.observe_equity(point("850", 1))  # phantom tick
    board.observe_equity(point("990", 2))
    board.observe_equity(point("850", 3))
    board.observe_equity(point("850", 4))
    assert board.state(GLOBAL) is TradingState.ACTIVE
    board.observe_equity(point("850", 5))
    assert board.state(GLOBAL) is TradingState.HALTED


def test_error_rate_breaker() -> None:
    lim = BreakerLimits(error_rate=0.25, error_window=20, min_error_attempts=10)
    early = BreakerBoard(lim)
    for _ in range(5):
        assert early.record_order_result(False, NOW) is None  # fewer than 10 attempts
    for _ in range(4):
        assert early.record_order_result(True, NOW) is None
    assert early.record_order_result(True, NOW) is not None  # 5 errors in 10
    board = BreakerBoard(lim)
    for _ in range(15):
        board.record_order_result(True, NOW)
    for _ in range(4):
        assert board.record_order_result(False, NOW) is None  # 4/19 = 21%
    trip = board.record_order_result(False, NOW)  # 5/20 = 25%
    assert trip is not None and trip.kind is BreakerKind.ERROR_RATE
    assert trip.measure == "5/20"
    assert board.state(GLOBAL) is TradingState.HALTED
    board.reset(GLOBAL, "ops", "venue incident over", NOW)
    assert board.record_order_result(True, NOW) is None


def test_reconciliation_mismatch_halts_everything() -> None:
    led, eng = setup()
    assert eng.breakers.report_reconciliation([], NOW) is None
    eng.breakers.report_reconciliation(["position KXHIGHNYC-B0: local 10 venue 12"], NOW)
    d = decide(led, eng, NOW)
    assert (d.action, d.reason) == (DecisionAction.DENY, ReasonCode.TRADING_HALTED)


def test_milder_trip_never_lowers_and_scopes_are_independent() -> None:
    board = BreakerBoard()
    city = Scope(ScopeKind.CITY, "NYC")
    board.trip(BreakerKind.DRAWDOWN, city, TradingState.HALTED, NOW)
    board.trip(BreakerKind.DRAWDOWN, city, TradingState.REDUCING, NOW)
    assert board.state(city) is TradingState.HALTED
    assert board.state(Scope(ScopeKind.CITY, "CHI")) is TradingState.ACTIVE
    board.trip(BreakerKind.MANUAL, city, TradingState.REDUCING, NOW)
    board.reset(city, "ops", "ok", NOW, kind=BreakerKind.DRAWDOWN)
    assert board.state(city) is TradingState.REDUCING
    with pytest.raises(ConfigError):
        board.trip(BreakerKind.MANUAL, city, TradingState.ACTIVE, NOW)
    with pytest.raises(ConfigError):
        board.observe_data_age(BreakerKind.DAILY_LOSS, city, None, NOW)


def test_latches_survive_a_restart_through_a_json_snapshot() -> None:
    import json

    led, eng = setup(daily_loss=D(100))
    observe(led, eng, {}, NOW)
    buy(led, "f1", 0, 400, "0.60")
    observe(led, eng, mark("0.35"), NOW + timedelta(minutes=1))
    eng.breakers.halt(Scope(ScopeKind.CITY, "CHI"), "ops", "storm", NOW)
    blob = json.dumps(eng.breakers.snapshot())
    restored = BreakerBoard.restore(eng.breakers.limits, json.loads(blob))
    assert restored.state(GLOBAL) is TradingState.HALTED
    assert restored.state(Scope(ScopeKind.CITY, "CHI")) is TradingState.HALTED
    assert set(restored.all_trips()) == set(eng.breakers.all_trips())
    # The day's baseline is kept: after a reset the same loss trips again.
    restored.reset(GLOBAL, "ops", "restart check", NOW)
    restored.observe_equity(led.mark(mark("0.35"), NOW + timedelta(minutes=2)))
    assert restored.state(GLOBAL) is TradingState.HALTED
    assert [c.to_record()["cause"] for c in restored.log] == ["reset", "trip"]


def test_city_and_cluster_daily_loss_reduce_only_that_scope() -> None:
    import json

    led = Ledger(D(1000))
    for city in ("NYC", "CHI", "PHIL"):
        led.register_event(event_spec(city))
    eng = RiskEngine.create(
        RiskLimits(
            caps=OPEN_CAPS,
            breakers=BreakerLimits(city_daily_loss=D(40), cluster_daily_loss=D(60)),
        )
    )
    cluster_of = {"NYC": "east", "PHIL": "east", "CHI": "chi"}.get

    def city_fill(fid: str, city: str, count: int, price: str) -> None:
        p = D(price)
        led.apply_fill(
            Fill(
                fid,
                market_ticker(city, 0),
                f"KXHIGH{city}-25MAR01",
                Side.YES,
                Action.BUY,
                D(count),
                p,
                FEES.taker_fee(D(count), p),
                NOW,
                city,
            )
        )

    def marks(nyc: str, phil: str) -> dict[str, Mark]:
        return {
            market_ticker("NYC", 0): Mark(D(nyc), D(nyc) + D("0.02")),
            market_ticker("PHIL", 0): Mark(D(phil), D(phil) + D("0.02")),
        }

    board = eng.breakers
    board.observe_city_pnl(led.pnl_by_city({}), NOW, lambda c: cluster_of(c) or c)
    # NYC: 100 YES at 0.50 (fee ceil(1.75) = 1.75); PHIL: 100 YES at 0.50.
    city_fill("n", "NYC", 100, "0.50")
    city_fill("p", "PHIL", 100, "0.50")
    # Marked at 0.15 / 0.30: NYC P&L 15 - 51.75 = -36.75, PHIL 30 - 51.75 = -21.75,
    # cluster east -58.50: nothing reaches its limit.
    pnl = led.pnl_by_city(marks("0.15", "0.30"))
    assert pnl == {"NYC": D("-36.75"), "PHIL": D("-21.75")}
    assert (
        board.observe_city_pnl(pnl, NOW + timedelta(minutes=1), lambda c: cluster_of(c) or c) == []
    )
    # NYC at 0.10: -41.75 -> NYC REDUCING; east -63.50 -> cluster REDUCING; CHI untouched.
    pnl = led.pnl_by_city(marks("0.10", "0.30"))
    trips = board.observe_city_pnl(pnl, NOW + timedelta(minutes=2), lambda c: cluster_of(c) or c)
    assert {(t.scope.kind, t.scope.key) for t in trips} == {
        (ScopeKind.CITY, "NYC"),
        (ScopeKind.CLUSTER, "east"),
    }
    assert board.state(GLOBAL) is TradingState.ACTIVE
    assert board.state(Scope(ScopeKind.CITY, "NYC")) is TradingState.REDUCING
    assert board.state(Scope(ScopeKind.CITY, "CHI")) is TradingState.ACTIVE
    # The baselines survive a restart.
    restored = BreakerBoard.restore(board.limits, json.loads(json.dumps(board.snapshot())))
    assert restored.state(Scope(ScopeKind.CLUSTER, "east")) is TradingState.REDUCING
    restored.reset(Scope(ScopeKind.CITY, "NYC"), "ops", "ok", NOW)
    restored.observe_city_pnl(pnl, NOW + timedelta(minutes=3))
    assert restored.state(Scope(ScopeKind.CITY, "NYC")) is TradingState.REDUCING
