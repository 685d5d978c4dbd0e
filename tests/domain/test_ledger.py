"""The P&L ledger: fills, Kalshi position signs, cash, fees, settlement, marks, worst cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.domain.intents import Action, Side
from milkbot.domain.ledger import (
    EventSpec,
    Fill,
    Ledger,
    Mark,
    Position,
    apply_trade,
    event_worst_case_loss,
)
from milkbot.errors import DataError

T0 = datetime(2025, 3, 1, 15, tzinfo=UTC)
EVENT = "KXHIGHNY-25MAR01"
TICKERS = tuple(f"{EVENT}-B{i}" for i in range(6))


def fill(
    fid: str,
    side: Side,
    action: Action,
    count: str,
    price: str,
    fee: str = "0",
    ticker: str = TICKERS[0],
) -> Fill:
    return Fill(fid, ticker, EVENT, side, action, D(count), D(price), D(fee), T0, "NYC")


def test_buy_yes_moves_cash_and_cost_basis() -> None:
    led = Ledger(D("100"))
    # 10 YES at $0.50, taker fee ceil(0.07*10*0.5*0.5) = ceil(0.175) = $0.18.
    assert led.apply_fill(fill("f1", Side.YES, Action.BUY, "10", "0.50", "0.18"))
    pos = led.positions[TICKERS[0]]
    assert pos == Position(D("10"), D("5.18"))
    assert led.cash == D("94.82")
    assert led.fees_paid == D("0.18")
    assert led.realized == 0


def test_buying_no_is_a_negative_position_and_costs_the_no_price() -> None:
    led = Ledger(D("100"))
    led.apply_fill(fill("f1", Side.NO, Action.BUY, "4", "0.30", "0.06"))
    pos = led.positions[TICKERS[0]]
    assert pos.contracts == D("-4")  # Kalshi position_fp: negative is NO
    assert pos.cost == D("1.26")  # 4 * 0.30 + 0.06
    assert led.cash == D("98.74")


def test_same_fill_twice_changes_nothing() -> None:
    led = Ledger(D("100"))
    f = fill("dup", Side.YES, Action.BUY, "3", "0.40", "0.02")
    assert led.apply_fill(f) is True
    snapshot = (dict(led.positions), led.cash, led.realized, led.fees_paid)
    assert led.apply_fill(f) is False
    assert (dict(led.positions), led.cash, led.realized, led.fees_paid) == snapshot


def test_closing_realizes_pnl_against_average_cost() -> None:
    led = Ledger(D("100"))
    led.apply_fill(fill("a", Side.YES, Action.BUY, "10", "0.40", "0.17"))  # cost 4.17
    led.apply_fill(fill("b", Side.YES, Action.SELL, "4", "0.60", "0.07"))
    # closes 4 of 10: removes 4/10 of 4.17 = 1.668; proceeds 2.40; fee 0.07
    assert led.realized == D("2.40") - D("1.668") - D("0.07")
    assert led.positions[TICKERS[0]] == Position(D("6"), D("2.502"))
    assert led.cash == D("100") - D("4.17") + D("2.40") - D("0.07")


def test_buying_no_against_a_long_yes_closes_it_first() -> None:
    led = Ledger(D("100"))
    led.apply_fill(fill("a", Side.YES, Action.BUY, "2", "0.40"))  # +2 YES, cost 0.80
    # Buy 5 NO at 0.55 (= sell YES at 0.45): closes 2 YES at 0.45, opens 3 NO at 0.55.
    led.apply_fill(fill("b", Side.NO, Action.BUY, "5", "0.55"))
    assert led.positions[TICKERS[0]] == Position(D("-3"), D("1.65"))
    assert led.realized == D("0.90") - D("0.80")
    assert led.cash == D("100") - D("0.80") + D("0.90") - D("1.65")


def test_settlement_pays_one_dollar_per_winning_contract() -> None:
    led = Ledger(D("100"))
    led.apply_fill(fill("a", Side.YES, Action.BUY, "10", "0.50", "0.18"))
    led.apply_fill(fill("b", Side.NO, Action.BUY, "5", "0.70", "0.08", ticker=TICKERS[1]))
    assert led.settle(TICKERS[0], Side.YES) == D("10")
    assert led.settle(TICKERS[1], Side.YES) == D("0")  # NO holder loses
    assert led.positions == {}
    assert led.cash == D("100") - D("5.18") - D("3.58") + D("10")
    assert led.realized == D("10") - D("5.18") - D("3.58")
    assert led.equity({}) == led.cash
    # Settling again with the same result is a no-op; a different result is an error.
    assert led.settle(TICKERS[0], Side.YES) == 0
    with pytest.raises(DataError):
        led.settle(TICKERS[0], Side.NO)
    with pytest.raises(DataError):
        led.apply_fill(fill("late", Side.YES, Action.BUY, "1", "0.5"))


def test_mark_to_market_uses_the_executable_side() -> None:
    led = Ledger(D("100"))
    led.apply_fill(fill("a", Side.YES, Action.BUY, "10", "0.50", "0.18"))
    led.apply_fill(fill("b", Side.NO, Action.BUY, "10", "0.40", "0.17", ticker=TICKERS[1]))
    marks = {TICKERS[0]: Mark(D("0.45"), D("0.47")), TICKERS[1]: Mark(D("0.55"), D("0.62"))}
    # long YES at the YES bid: 4.50; long NO at 1 - YES ask: 10 * 0.38 = 3.80
    assert led.equity(marks) == led.cash + D("4.50") + D("3.80")
    assert led.unrealized(marks) == D("4.50") - D("5.18") + D("3.80") - D("4.17")
    point = led.mark(marks, T0)
    assert point.equity - led.starting_cash == point.realized + point.unrealized
    assert point.high_water_mark == D("100")
    assert point.drawdown == (D("100") - point.equity) / D("100")


def test_high_water_mark_only_rises() -> None:
    led = Ledger(D("100"))
    led.apply_fill(fill("a", Side.YES, Action.BUY, "10", "0.50"))
    up = led.mark({TICKERS[0]: Mark(D("0.80"), D("0.82"))}, T0)
    assert up.high_water_mark == D("103")
    down = led.mark({TICKERS[0]: Mark(D("0.20"), D("0.22"))}, T0)
    assert down.high_water_mark == D("103")
    assert down.equity == D("97")


def test_event_worst_case_is_over_which_bracket_wins() -> None:
    # YES on B0 (cost 3) and B1 (cost 2): if B0 wins we get 10 -> loss -5; if another
    # bracket wins we get nothing -> loss 5. NO on B5 (cost 4) pays 10 unless B5 wins.
    positions = {
        TICKERS[0]: Position(D("10"), D("3")),
        TICKERS[1]: Position(D("10"), D("2")),
        TICKERS[5]: Position(D("-10"), D("4")),
    }
    # total cost 9. outcome B0: 10 + 10 = 20 -> -11; B1: -11; B2..B4: 10 -> -1; B5: 0 -> 9
    assert event_worst_case_loss(positions, TICKERS, exhaustive=True) == D("9")
    # Without B5's NO: outcomes B2..B5 pay 0 -> loss 5.
    del positions[TICKERS[5]]
    assert event_worst_case_loss(positions, TICKERS, exhaustive=True) == D("5")
    # Two YES on every bracket of a partition cannot lose more than the costs minus 10.
    full = {t: Position(D("10"), D("1")) for t in TICKERS}
    assert event_worst_case_loss(full, TICKERS, exhaustive=True) == 0
    assert event_worst_case_loss(full, TICKERS, exhaustive=False) == D("6")


def test_ledger_event_worst_case_treats_unregistered_events_as_open() -> None:
    led = Ledger(D("100"))
    for i, t in enumerate(TICKERS):
        led.apply_fill(fill(f"f{i}", Side.YES, Action.BUY, "1", "0.10", ticker=t))
    # Six YES at 0.10 = 0.60 cost; unknown siblings might exist -> "none wins" loses 0.60.
    assert led.event_worst_case_loss(EVENT) == D("0.60")
    led.register_event(EventSpec(EVENT, "NYC", TICKERS, exhaustive=True))
    assert led.event_worst_case_loss(EVENT) == 0
    assert led.market_worst_case_loss(TICKERS[0]) == D("0.10")


def test_invalid_fills_are_rejected() -> None:
    led = Ledger(D("10"))
    with pytest.raises(DataError):
        led.apply_fill(fill("z", Side.YES, Action.BUY, "0", "0.5"))
    with pytest.raises(DataError):
        led.apply_fill(fill("p", Side.YES, Action.BUY, "1", "1.5"))


prices = st.integers(1, 99).map(lambda c: D(c) / 100)
counts = st.integers(1, 50).map(D)
trades = st.lists(
    st.tuples(st.sampled_from(list(Side)), st.sampled_from(list(Action)), counts, prices),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(trades, st.booleans(), prices)
def test_pnl_identity_holds_for_any_trade_sequence(seq, yes_wins, mark_bid) -> None:
    """equity - start == realized + unrealized, before and after settlement."""
    led = Ledger(D("1000"))
    for i, (side, action, n, p) in enumerate(seq):
        led.apply_fill(fill(f"f{i}", side, action, str(n), str(p), "0.01"))
    marks = {TICKERS[0]: Mark(mark_bid, min(D("0.99"), mark_bid + D("0.02")))}
    point = led.mark(marks, T0)
    assert abs(point.equity - led.starting_cash - (point.realized + point.unrealized)) < D("1e-18")
    pos = led.positions.get(TICKERS[0], Position())
    assert pos.cost >= 0
    assert (pos.contracts == 0) == (pos.cost == 0) or pos.contracts != 0
    led.settle(TICKERS[0], Side.YES if yes_wins else Side.NO)
    assert abs(led.cash - led.starting_cash - led.realized) < D("1e-18")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(-20, 20), prices), max_size=12))
def test_event_worst_case_equals_brute_force(legs) -> None:
    positions: dict[str, Position] = {}
    for idx, delta, p in legs:
        if delta == 0:
            continue
        t = TICKERS[idx]
        positions[t] = apply_trade(positions.get(t, Position()), D(delta), p, D("0")).position
    cost = sum((p.cost for p in positions.values()), D(0))
    losses = []
    for winner in TICKERS:
        payout = sum((p.payout(t == winner) for t, p in positions.items()), D(0))
        losses.append(cost - payout)
    # Cost bases of partly closed positions are exact quotients: compare to 1e-18 dollars.
    worst = event_worst_case_loss(positions, TICKERS, exhaustive=True)
    assert abs(worst - max(D(0), *losses)) < D("1e-18")


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "risk"


def _payload(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())["payload"]


def test_real_settlements_pay_what_kalshi_paid() -> None:
    """Rebuild each settled position of a real capture and settle it: the payout equals
    Kalshi's ``revenue`` (cents) for YES and NO holders, including a fractional count."""
    settlements = _payload("real-2026-08_GET-portfolio-settlements_redacted.json")["settlements"]
    assert len(settlements) == 22
    for i, s in enumerate(settlements):
        led = Ledger(D("100"))
        yes_n, no_n = D(s["yes_count_fp"]), D(s["no_count_fp"])
        side, n, cost = (
            (Side.YES, yes_n, D(s["yes_total_cost_dollars"]))
            if yes_n
            else (Side.NO, no_n, D(s["no_total_cost_dollars"]))
        )
        fee = D(s["fee_cost"])
        led.apply_fill(
            Fill(f"s{i}", s["ticker"], s["event_ticker"], side, Action.BUY, n, cost / n, fee, T0)
        )
        assert led.positions[s["ticker"]].contracts == (n if side is Side.YES else -n)
        payout = led.settle(s["ticker"], Side(s["market_result"]))
        assert payout * 100 == s["revenue"], s
        assert led.realized == payout - cost - fee
        assert led.cash == D("100") + led.realized


def test_real_fills_apply_with_kalshi_signs_and_fees() -> None:
    fills = _payload("real-2026-08_GET-portfolio-fills_redacted.json")["fills"]
    led = Ledger(D("1000"))
    spent = D(0)
    for f in fills:
        side = Side(f["outcome_side"])
        price = D(f["yes_price_dollars"] if side is Side.YES else f["no_price_dollars"])
        count, fee = D(f["count_fp"]), D(f["fee_cost"])
        fill_ = Fill(
            f["fill_id"], f["ticker"], f["ticker"], side, Action(f["action"]), count, price, fee, T0
        )
        assert led.apply_fill(fill_)
        assert not led.apply_fill(fill_)
        spent += count * price + fee
    assert led.cash == D("1000") - spent
    assert led.fees_paid == sum((D(f["fee_cost"]) for f in fills), D(0))
    no_buys = {f["ticker"] for f in fills if f["outcome_side"] == "no"}
    assert no_buys and all(led.positions[t].contracts < 0 for t in no_buys)


def test_a_market_missing_from_the_spec_makes_the_event_open() -> None:
    led = Ledger(D("100"))
    led.register_event(EventSpec(EVENT, "NYC", TICKERS[:5], exhaustive=True))
    for i, t in enumerate(TICKERS[:5]):
        led.apply_fill(fill(f"f{i}", Side.YES, Action.BUY, "1", "0.10", ticker=t))
    assert led.event_worst_case_loss(EVENT) == 0  # one of the five always wins
    led.apply_fill(fill("x", Side.YES, Action.BUY, "1", "0.10", ticker=TICKERS[5]))
    tickers, exhaustive = led.event_markets(EVENT)
    assert (tickers, exhaustive) == (TICKERS, False)
    # 0.60 paid; if none of the known brackets won we would lose all of it.
    assert led.event_worst_case_loss(EVENT) == D("0.60")
