"""The matching engine: priority, crossing, partial fills, cancels, amends, fees, settlement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel, FeeType
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import TimeInForce
from milkbot.venues.exchange.matching import (
    Engine,
    MarketStatus,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    SelfTradePrevention,
)

T = "KXHIGHNY-25APR06-B60.5"
D = Decimal


def bid(price: str, count: int | str, **kw: object) -> OrderRequest:
    return OrderRequest(T, BookSide.BID, D(str(count)), D(price), **kw)  # type: ignore[arg-type]


def ask(price: str, count: int | str, **kw: object) -> OrderRequest:
    return OrderRequest(T, BookSide.ASK, D(str(count)), D(price), **kw)  # type: ignore[arg-type]


def test_yes_bid_crosses_resting_no_bid_at_complementary_price(engine: Engine) -> None:
    # Bob buys NO at 0.58, i.e. sells YES at 0.42; Alice's YES bid at 0.45 crosses it.
    engine.create_order("bob", ask("0.42", 10))
    placed = engine.create_order("alice", bid("0.45", 4))
    assert placed.order.status is OrderStatus.EXECUTED
    assert placed.fill_count == 4
    assert placed.average_fill_price == D("0.42")  # the resting order's price
    alice = engine.accounts["alice"].positions[T]
    bob = engine.accounts["bob"].positions[T]
    assert (alice.net, bob.net) == (4, -4)
    assert bob.no_cost == D("0.58") * 4
    fee = FeeModel().taker_fee(4, D("0.42"))
    assert engine.accounts["alice"].cash == D(1000) - D("0.42") * 4 - fee
    assert engine.accounts["bob"].cash == D(1000) - D("0.58") * 4
    assert engine.markets[T].depth(BookSide.ASK) == [(D("0.42"), D(6))]


def test_price_then_time_priority(engine: Engine) -> None:
    engine.open_account("carol", D(1000))
    first = engine.create_order("bob", ask("0.50", 5)).order
    second = engine.create_order("carol", ask("0.50", 5)).order
    better = engine.create_order("carol", ask("0.49", 2)).order
    placed = engine.create_order("alice", bid("0.50", 6))
    assert [f.yes_price for f in placed.fills] == [D("0.49"), D("0.50")]
    assert engine.orders[better.order_id].status is OrderStatus.EXECUTED
    assert engine.orders[first.order_id].fill_count == 4
    assert engine.orders[second.order_id].fill_count == 0


def test_partial_fill_rests_remainder_and_ioc_cancels_it(engine: Engine) -> None:
    engine.create_order("bob", ask("0.30", 3))
    gtc = engine.create_order("alice", bid("0.30", 5))
    assert (gtc.order.status, gtc.order.fill_count, gtc.order.remaining_count) == (
        OrderStatus.RESTING,
        3,
        2,
    )
    assert engine.markets[T].best(BookSide.BID) == (D("0.30"), D(2))
    engine.create_order("bob", ask("0.40", 1))
    ioc = engine.create_order(
        "alice", bid("0.45", 5, time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL)
    )
    assert (ioc.order.status, ioc.order.fill_count, ioc.order.remaining_count) == (
        OrderStatus.EXECUTED,
        1,
        0,
    )


def test_fill_or_kill_needs_the_whole_size(engine: Engine) -> None:
    engine.create_order("bob", ask("0.30", 3))
    fok = engine.create_order("alice", bid("0.30", 5, time_in_force=TimeInForce.FILL_OR_KILL))
    assert fok.order.status is OrderStatus.CANCELED and fok.fill_count == 0
    assert engine.markets[T].best(BookSide.ASK) == (D("0.30"), D(3))


def test_duplicate_client_order_id_is_rejected_with_409(engine: Engine) -> None:
    engine.create_order("alice", bid("0.20", 1, client_order_id="abc"))
    with pytest.raises(OrderRejected) as e:
        engine.create_order("alice", bid("0.21", 1, client_order_id="abc"))
    assert (e.value.status, e.value.code) == (409, "order_already_exists")
    # Another user may use the same id.
    engine.create_order("bob", bid("0.20", 1, client_order_id="abc"))


def test_cancel_decrease_and_amend(engine: Engine) -> None:
    a = engine.create_order("alice", bid("0.40", 10)).order
    b = engine.create_order("bob", bid("0.40", 10)).order
    order, _ = engine.decrease_order("alice", a.order_id, reduce_by=D(4), reduce_to=None)
    assert order.remaining_count == 6
    # A decrease keeps priority: Alice is still first at 0.40.
    engine.open_account("carol", D(1000))
    engine.create_order("carol", ask("0.40", 1))
    assert engine.orders[a.order_id].fill_count == 1
    # Amending the price re-queues and may cross.
    engine.create_order("carol", ask("0.43", 2))
    amended = engine.amend_order(
        "bob", b.order_id, ticker=T, side=BookSide.BID, price=D("0.44"), count=D(10)
    )
    assert amended.fill_count == 2 and amended.order.remaining_count == 8
    reduced, _ = engine.cancel_order("bob", b.order_id)
    assert reduced == 8
    with pytest.raises(OrderRejected):
        engine.cancel_order("bob", b.order_id)
    with pytest.raises(OrderRejected) as e:
        engine.cancel_order("alice", b.order_id)
    assert e.value.status == 404


def test_self_trade_prevention(engine: Engine) -> None:
    resting = engine.create_order("alice", ask("0.50", 5)).order
    taker = engine.create_order("alice", bid("0.55", 5))
    assert taker.order.status is OrderStatus.CANCELED and taker.fill_count == 0
    assert engine.orders[resting.order_id].status is OrderStatus.RESTING
    maker_stp = engine.create_order(
        "alice", bid("0.55", 5, self_trade_prevention=SelfTradePrevention.MAKER)
    )
    assert engine.orders[resting.order_id].status is OrderStatus.CANCELED
    assert maker_stp.order.status is OrderStatus.RESTING


def test_post_only_and_bad_prices_are_rejected(engine: Engine) -> None:
    engine.create_order("bob", ask("0.50", 5))
    with pytest.raises(OrderRejected) as e:
        engine.create_order("alice", bid("0.50", 1, post_only=True))
    assert e.value.code == "post_only_cross"
    for price in ("0.00", "1.00", "0.505"):
        with pytest.raises(OrderRejected):
            engine.create_order("alice", bid(price, 1))
    with pytest.raises(OrderRejected):
        engine.create_order("alice", bid("0.50", "0.001"))


def test_insufficient_balance(engine: Engine) -> None:
    engine.open_account("poor", D(5))
    engine.create_order("poor", bid("0.40", 10))
    with pytest.raises(OrderRejected) as e:
        engine.create_order("poor", bid("0.40", 3))
    assert e.value.code == "insufficient_balance"


def test_maker_fees_follow_the_series_fee_type() -> None:
    eng = Engine(FixedClock(datetime(2025, 4, 6, tzinfo=UTC)))
    model = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, D("0.5"))
    eng.add_market(T, "E", "S", model)
    eng.open_account("a", D(100))
    eng.open_account("b", D(100))
    eng.create_order("a", bid("0.30", 7))
    placed = eng.create_order("b", ask("0.30", 7))
    maker = next(f for f in eng.fills if not f.is_taker)
    assert maker.fee == model.maker_fee(7, D("0.30")) > 0
    assert placed.fills[0].fee == model.taker_fee(7, D("0.70"))


def test_close_cancels_and_settlement_pays_winners(engine: Engine) -> None:
    engine.create_order("bob", ask("0.30", 10))
    engine.create_order("alice", bid("0.30", 4))
    resting = engine.create_order("alice", bid("0.10", 4)).order
    cash_before = {u: engine.accounts[u].cash for u in ("alice", "bob")}
    engine.settle_market(T, "yes")
    assert engine.orders[resting.order_id].status is OrderStatus.CANCELED
    assert engine.markets[T].status is MarketStatus.FINALIZED
    assert engine.accounts["alice"].cash == cash_before["alice"] + 4
    assert engine.accounts["bob"].cash == cash_before["bob"]
    alice = next(s for s in engine.settlements if s.user_id == "alice")
    assert (alice.yes_count, alice.revenue, alice.market_result) == (4, 4, "yes")
    assert engine.total_value() == engine.total_deposits()
    with pytest.raises(OrderRejected):
        engine.create_order("alice", bid("0.10", 1))


def test_netting_yes_against_no_returns_cash(engine: Engine) -> None:
    engine.open_account("carol", D(1000))
    engine.create_order("bob", ask("0.40", 5))
    engine.create_order("alice", bid("0.40", 5))  # alice +5 YES at 0.40
    engine.create_order("carol", bid("0.60", 5))
    engine.create_order("alice", ask("0.60", 5))  # alice sells them at 0.60
    pos = engine.accounts["alice"].positions[T]
    assert pos.net == 0 and pos.exposure == 0
    assert pos.realized_pnl == D("1.00")
    assert engine.total_value() == engine.total_deposits()


# ---- properties -------------------------------------------------------------------------
actions = st.lists(
    st.tuples(
        st.sampled_from(["u0", "u1", "u2"]),
        st.sampled_from(["create", "create", "create", "cancel", "amend", "decrease"]),
        st.sampled_from(list(BookSide)),
        st.integers(1, 99),
        st.integers(1, 2000).map(lambda n: D(n) / 100),
        st.sampled_from(list(TimeInForce)),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(actions, st.sampled_from(list(FeeType)[:3]), st.sampled_from(["yes", "no", None]))
def test_conservation_and_consistency(
    steps: list[tuple[str, str, BookSide, int, Decimal, TimeInForce]],
    fee_type: FeeType,
    result: str | None,
) -> None:
    eng = Engine(FixedClock(datetime(2025, 4, 6, tzinfo=UTC)))
    model = FeeModel(fee_type)
    eng.add_market(T, "E", "S", model)
    for u in ("u0", "u1", "u2"):
        eng.open_account(u, D(500))
    for user, action, side, cents, count, tif in steps:
        mine = [o for o in eng.by_user.get(user, {}).values() if o.status is OrderStatus.RESTING]
        try:
            if action == "create" or not mine:
                eng.create_order(user, OrderRequest(T, side, count, D(cents) / 100, tif))
            elif action == "cancel":
                eng.cancel_order(user, mine[0].order_id)
            elif action == "amend":
                o = mine[-1]
                eng.amend_order(
                    user,
                    o.order_id,
                    ticker=T,
                    side=o.side,
                    price=D(cents) / 100,
                    count=o.fill_count + count,
                )
            else:
                eng.decrease_order(
                    user,
                    mine[0].order_id,
                    reduce_by=None,
                    reduce_to=count / 2 // D("0.01") * D("0.01"),
                )
        except OrderRejected:
            pass
        # Cash and contracts are conserved; YES and NO outstanding match.
        assert eng.total_value() == eng.total_deposits()
        yes = sum(a.positions[T].yes for a in eng.accounts.values() if T in a.positions)
        no = sum(a.positions[T].no for a in eng.accounts.values() if T in a.positions)
        assert yes == no
    market = eng.markets[T]
    for side in BookSide:
        for queue in market.levels(side).values():
            for o in queue:
                assert o.remaining_count > 0 and o.status is OrderStatus.RESTING
    indexed = {oid for mine in eng.resting.values() for oid in mine}
    assert indexed == {oid for oid, o in eng.orders.items() if o.status is OrderStatus.RESTING}
    for o in eng.orders.values():
        assert o.remaining_count >= 0
        assert (
            o.fill_count + o.remaining_count <= o.initial_count
            or o.status is not OrderStatus.RESTING
        )
    for user, account in eng.accounts.items():
        fills = [f for f in eng.fills if f.user_id == user]
        signed = sum((f.count if f.side is BookSide.BID else -f.count for f in fills), D(0))
        net = account.positions[T].net if T in account.positions else D(0)
        assert net == signed
        for f in fills:
            unit = f.yes_price if f.side is BookSide.BID else 1 - f.yes_price
            assert f.fee == model.fee(f.count, unit, is_taker=f.is_taker)
    if result is not None:
        eng.settle_market(T, result)
        assert eng.total_value() == eng.total_deposits()
        assert all(T not in a.positions for a in eng.accounts.values())


def test_order_group_trips_over_its_rolling_limit(engine: Engine) -> None:
    group = engine.create_order_group("alice", D(5))
    resting = engine.create_order("alice", bid("0.10", 2, order_group_id=group.group_id)).order
    engine.create_order("bob", ask("0.50", 10))
    # 4 contracts fill: under the limit, the rest of the group is untouched.
    engine.create_order("alice", bid("0.50", 4, order_group_id=group.group_id))
    assert not group.triggered
    # 2 more within 15 s make 6 > 5: the group triggers and cancels its resting orders,
    # including the rest of the order that crossed the limit.
    crossing = engine.create_order("alice", bid("0.50", 10, order_group_id=group.group_id))
    assert group.triggered and crossing.fill_count == 6
    assert crossing.order.status is OrderStatus.CANCELED and crossing.order.remaining_count == 0
    assert engine.orders[resting.order_id].status is OrderStatus.CANCELED
    with pytest.raises(OrderRejected) as e:
        engine.create_order("alice", bid("0.10", 1, order_group_id=group.group_id))
    assert e.value.code == "order_group_triggered"
    engine.reset_order_group("alice", group.group_id)
    engine.create_order("alice", bid("0.10", 1, order_group_id=group.group_id))
    with pytest.raises(OrderRejected) as e:
        engine.order_group("bob", group.group_id)
    assert e.value.status == 404


def test_order_group_window_rolls_and_limit_update_triggers() -> None:
    clock = FixedClock(datetime(2025, 4, 6, tzinfo=UTC))
    eng = Engine(clock)
    eng.add_market(T, "E", "S", FeeModel())
    eng.open_account("a", D(1000))
    eng.open_account("b", D(1000))
    group = eng.create_order_group("a", D(5))
    eng.create_order("b", ask("0.50", 100))
    eng.create_order("a", bid("0.50", 4, order_group_id=group.group_id))
    clock.advance(timedelta(seconds=16))
    eng.create_order("a", bid("0.50", 4, order_group_id=group.group_id))
    assert not group.triggered  # the first 4 left the 15 s window
    eng.create_order("a", bid("0.01", 1, order_group_id=group.group_id))
    events = eng.update_order_group_limit("a", group.group_id, D(3))
    assert group.triggered and events
    assert eng.group_orders(group) == []
