"""Milkbot's Kalshi client (REST and WebSocket) against the local exchange, faults off and on."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.datasets import Dataset
from milkbot.domain.market import BookSide, OutcomeSide
from milkbot.domain.portfolio import Action, OrderRequest, TimeInForce
from milkbot.errors import OutcomeUnknownError
from milkbot.venues.exchange.faults import FaultConfig
from milkbot.venues.exchange.matching import MarketStatus
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.client import KalshiClient, KalshiRejection
from milkbot.venues.kalshi.ratelimit import RateLimits
from milkbot.venues.kalshi.websocket import KalshiWebSocket

from .conftest import KEY_ID, LiveExchange, make_state, serve


def _two_sided(live: LiveExchange) -> str:
    for ticker, market in sorted(live.state.engine.markets.items()):
        if (
            market.status is MarketStatus.ACTIVE
            and market.best(BookSide.BID)
            and market.best(BookSide.ASK)
        ):
            return ticker
    raise AssertionError("no two-sided market")


def _client(live: LiveExchange, key: rsa.RSAPrivateKey, max_retries: int = 4) -> KalshiClient:
    # The local exchange does not rate-limit, so the client's buckets are opened wide.
    return KalshiClient(
        live.api,
        auth=KalshiAuth(KEY_ID, key),
        backoff_base=0.001,
        max_retries=max_retries,
        rate_limits=RateLimits(read_per_second=1e5, write_per_second=1e5),
    )


async def test_client_reads_market_data(live: LiveExchange, private_key: rsa.RSAPrivateKey) -> None:
    async with _client(live, private_key) as client:
        status = await client.get_exchange_status()
        assert status.trading_active
        series = await client.get_series("KXHIGHCHI")
        assert series.ticker == "KXHIGHCHI"
        markets = await client.get_markets(series_ticker="KXHIGHCHI")
        assert len(markets) == 18
        ticker = _two_sided(live)
        market = await client.get_market(ticker)
        assert market.ticker == ticker
        book = await client.get_orderbook(ticker)
        best = live.state.engine.markets[ticker].best(BookSide.ASK)
        assert best is not None
        trades = await client.get_trades(ticker=ticker)
        assert trades
        by_ticker = await client.get_markets(tickers=[ticker, "KXHIGHNY-25APR07-B48.5", "NOPE"])
        assert {m.ticker for m in by_ticker} == {ticker, "KXHIGHNY-25APR07-B48.5"}
        close = live.state.infos[ticker].close_time
        assert close is not None
        closing = await client.get_markets(min_close_ts=close, max_close_ts=close)
        assert ticker in {m.ticker for m in closing}
        assert all(live.state.infos[m.ticker].close_time == close for m in closing)
        event = await client.get_event(market.event_ticker, with_nested_markets=True)
        assert event.event_ticker == market.event_ticker
        assert book is not None


async def test_client_order_lifecycle(live: LiveExchange, private_key: rsa.RSAPrivateKey) -> None:
    ticker = _two_sided(live)
    ask = live.state.engine.markets[ticker].best(BookSide.ASK)
    bid = live.state.engine.markets[ticker].best(BookSide.BID)
    assert ask is not None and bid is not None and bid[0] > Decimal("0.01")
    async with _client(live, private_key) as client:
        rest = OrderRequest(
            ticker, OutcomeSide.YES, Action.BUY, Decimal("0.01"), Decimal(3), "c-rest"
        )
        ack = await client.create_order(rest)
        assert ack.remaining == 3 and ack.filled == 0
        with pytest.raises(KalshiRejection) as e:
            await client.create_order(rest)
        assert e.value.status == 409
        amended = await client.amend_order(ack.order_id, rest, total_count=Decimal(5))
        assert amended.remaining == 5
        decreased = await client.decrease_order(ack.order_id, reduce_to=Decimal(2))
        assert decreased.remaining == 2
        take = OrderRequest(
            ticker,
            OutcomeSide.YES,
            Action.BUY,
            ask[0],
            Decimal(2),
            "c-take",
            time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
        )
        taken = await client.create_order(take)
        assert taken.filled == 2 and taken.average_fill_price == ask[0]
        # Buying NO at 0.99 is an ask at YES 0.01: it hits the best YES bid (the tape's, at
        # a better price than our own 0.01 bid) and nets one of our YES contracts into cash.
        no = OrderRequest(ticker, OutcomeSide.NO, Action.BUY, Decimal("0.99"), Decimal(1), "c-no")
        sold = await client.create_order(no)
        assert sold.filled == 1 and sold.average_fill_price == bid[0]
        cancelled = await client.cancel_order(ack.order_id, ticker=ticker)
        assert cancelled.reduced_by == 2
        orders = await client.get_orders(ticker=ticker)
        assert {o.client_order_id for o in orders} == {"c-rest", "c-take", "c-no"}
        fills = await client.get_fills(ticker=ticker)
        assert sum(f.count for f in fills) == 3
        positions = await client.get_positions()
        assert [(p.ticker, p.position) for p in positions] == [(ticker, Decimal(1))]
        balance = await client.get_balance()
        fees = sum(f.fee for f in fills)
        # Paid 2 x ask for YES and 1 - bid for NO; the YES/NO pair was netted into $1.
        assert balance.balance == Decimal(1000) - ask[0] * 2 + bid[0] - fees
        acks = await client.batch_create_orders(
            [
                OrderRequest(
                    ticker, OutcomeSide.YES, Action.BUY, Decimal("0.02"), Decimal(1), "b-1"
                ),
                OrderRequest(
                    ticker, OutcomeSide.YES, Action.BUY, Decimal("0.02"), Decimal(1), "c-rest"
                ),
            ]
        )
        assert acks[0].error_code is None and acks[1].error_code == "order_already_exists"
        cancels = await client.batch_cancel_orders([acks[0].order_id])
        assert cancels[0].reduced_by == 1
        report = await client.get_order(ack.order_id)
        assert (report.client_order_id, report.status.value, report.filled) == (
            "c-rest",
            "canceled",
            0,
        )
        info = live.state.infos[ticker]
        assert info.close_time is not None
        live.clock.current = info.close_time + timedelta(hours=2)
        live.state.tick()
        settlements = await client.get_settlements()
        assert [s.ticker for s in settlements] == [ticker]
        assert await client.get_positions() == []
        after = await client.get_balance()
        payout = Decimal(1) if info.result == "yes" else Decimal(0)
        assert after.balance == balance.balance + payout


async def test_client_reconciles_through_faults(
    demo_dataset: Dataset, private_key: rsa.RSAPrivateKey
) -> None:
    """With 5xx, 429, latency and lost responses on, no order is lost or duplicated."""
    faults = FaultConfig(
        http_5xx_rate=0.2,
        http_429_rate=0.2,
        latency_ms=(0.0, 3.0),
        lost_response_rate=0.3,
        seed=11,
    )
    state, clock = make_state(demo_dataset, private_key, faults=faults)
    async for url in serve(state):
        live = LiveExchange(url, state, clock)
        ticker = _two_sided(live)
        unknown = 0
        async with _client(live, private_key, max_retries=8) as client:
            for i in range(30):
                req = OrderRequest(
                    ticker, OutcomeSide.YES, Action.BUY, Decimal("0.01"), Decimal(1), f"f-{i}"
                )
                for _attempt in range(20):
                    try:
                        await client.create_order(req)
                        break
                    except OutcomeUnknownError:
                        unknown += 1
                        # Reconcile: resend with the same client_order_id; 409 means it exists.
                        try:
                            await client.create_order(req, resend_unknown=True)
                            break
                        except KalshiRejection as e:
                            assert e.code == "order_already_exists"
                            break
                        except OutcomeUnknownError:
                            continue
            orders = await client.get_orders(ticker=ticker)
            # Reads retry through the same 5xx/429 faults.
            assert len(await client.get_markets(series_ticker="KXHIGHNY")) == 18
            assert (await client.get_balance()).balance == Decimal(1000)
            assert await client.get_fills() == []
            await client.get_orderbook(ticker)
        assert unknown > 0  # the faults did fire
        ids = [o.client_order_id for o in orders]
        assert sorted(ids) == sorted(f"f-{i}" for i in range(30))
        engine_orders = list(state.engine.by_user[KEY_ID].values())
        assert len(engine_orders) == 30


async def test_websocket_client_keeps_a_consistent_book_under_faults(
    demo_dataset: Dataset, private_key: rsa.RSAPrivateKey
) -> None:
    faults = FaultConfig(
        ws_seq_gap_rate=0.1, ws_duplicate_rate=0.1, ws_reorder_rate=0.1, ws_drop_rate=0.02, seed=3
    )
    state, clock = make_state(demo_dataset, private_key, faults=faults)
    async for url in serve(state):
        live = LiveExchange(url, state, clock)
        ticker = _two_sided(live)
        ws = KalshiWebSocket(
            live.ws, auth=KalshiAuth(KEY_ID, private_key), backoff_base=0.01, backoff_cap=0.05
        )
        await ws.subscribe("orderbook_delta", [ticker])
        runner = asyncio.create_task(ws.run())
        try:
            async with _client(live, private_key) as client:
                for i in range(40):
                    price = Decimal(1 + i % 5) / 100
                    req = OrderRequest(
                        ticker, OutcomeSide.YES, Action.BUY, price, Decimal(1), f"w-{i}"
                    )
                    ack = await client.create_order(req)
                    if i % 3 == 0:
                        await client.cancel_order(ack.order_id)
                # A lost or held-back last frame is only detectable from the frame after it:
                # end the faulty burst with one clean order so the client can notice and resync.
                state.faults.config = FaultConfig()
                await client.create_order(
                    OrderRequest(
                        ticker, OutcomeSide.YES, Action.BUY, Decimal("0.06"), Decimal(1), "w-last"
                    )
                )
            market = state.engine.markets[ticker]
            expected = dict(market.depth(BookSide.BID))
            for _ in range(500):
                book = ws.books[ticker]
                if book.synced and _yes_levels(book) == expected:
                    break
                await asyncio.sleep(0.02)
            assert ws.books[ticker].synced
            assert _yes_levels(ws.books[ticker]) == expected
            assert ws.resyncs + ws.connections > 1  # the faults forced at least one recovery
        finally:
            await ws.close()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner


def _yes_levels(book: object) -> dict[Decimal, Decimal]:
    levels = book.yes
    return {Decimal(p): Decimal(q) for p, q in dict(levels).items() if q}


async def test_client_order_groups(live: LiveExchange, private_key: rsa.RSAPrivateKey) -> None:
    ticker = _two_sided(live)
    ask = live.state.engine.markets[ticker].best(BookSide.ASK)
    assert ask is not None and ask[1] >= 3
    async with _client(live, private_key) as client:
        gid = await client.create_order_group(Decimal(2))
        rest = OrderRequest(
            ticker,
            OutcomeSide.YES,
            Action.BUY,
            Decimal("0.01"),
            Decimal(1),
            "g-rest",
            order_group_id=gid,
        )
        await client.create_order(rest)
        group = await client.get_order_group(gid)
        assert group.is_auto_cancel_enabled and group.contracts_limit == 2
        take = OrderRequest(
            ticker,
            OutcomeSide.YES,
            Action.BUY,
            ask[0],
            Decimal(3),
            "g-take",
            time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
            order_group_id=gid,
        )
        assert (await client.create_order(take)).filled == 3
        # 3 > 2 contracts in 15 s: the group triggered and cancelled its resting order.
        assert not (await client.get_order_group(gid)).is_auto_cancel_enabled
        assert await client.get_orders(status="resting") == []
        groups = await client.get_order_groups()
        assert [g.order_group_id for g in groups] == [gid]
        with pytest.raises(KalshiRejection):
            await client.create_order(
                OrderRequest(
                    ticker,
                    OutcomeSide.YES,
                    Action.BUY,
                    Decimal("0.01"),
                    Decimal(1),
                    "g-2",
                    order_group_id=gid,
                )
            )
        await client.reset_order_group(gid)
        await client.update_order_group_limit(gid, Decimal(10))
        await client.create_order(
            OrderRequest(
                ticker,
                OutcomeSide.YES,
                Action.BUY,
                Decimal("0.01"),
                Decimal(1),
                "g-3",
                order_group_id=gid,
            )
        )
        assert [o.client_order_id for o in await client.get_orders(status="resting")] == ["g-3"]
        await client.trigger_order_group(gid)
        assert await client.get_orders(status="resting") == []
        await client.delete_order_group(gid)
        assert await client.get_order_groups() == []


async def test_websocket_client_adds_markets_to_a_live_subscription(
    live: LiveExchange, private_key: rsa.RSAPrivateKey
) -> None:
    two_sided = [
        t
        for t, m in sorted(live.state.engine.markets.items())
        if m.status is MarketStatus.ACTIVE and m.best(BookSide.BID) and m.best(BookSide.ASK)
    ]
    first, added = two_sided[0], two_sided[1:3]
    ws = KalshiWebSocket(live.ws, auth=KalshiAuth(KEY_ID, private_key))
    await ws.subscribe("orderbook_delta", [first])
    runner = asyncio.create_task(ws.run())

    async def synced(tickers: list[str]) -> bool:
        for _ in range(250):
            if all(t in ws.books and ws.books[t].synced for t in tickers):
                return True
            await asyncio.sleep(0.02)
        return False

    try:
        assert await synced([first])
        await ws.add_markets("orderbook_delta", added)
        assert await synced(added)
        # The exchange answers "ok" and a snapshot per added market on the same sid, with
        # consecutive seqs: no gap, no resync, and every book is the exchange's.
        assert ws.resyncs == 0 and ws.connections == 1
        for t in [first, *added]:
            market = live.state.engine.markets[t]
            assert _yes_levels(ws.books[t]) == {
                Decimal(p): Decimal(q) for p, q in market.depth(BookSide.BID)
            }
    finally:
        await ws.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
