"""The WebSocket client replaying the real recorded ``orderbook_delta`` stream."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from websockets.exceptions import ConnectionClosedOK

from milkbot.domain.market import OutcomeSide, Trade
from milkbot.domain.portfolio import FillReport, OrderReport, PositionReport
from milkbot.errors import ParseError
from milkbot.venues.kalshi.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, KalshiAuth, verify
from milkbot.venues.kalshi.websocket import (
    BookUpdate,
    Connected,
    Disconnected,
    KalshiWebSocket,
    ResyncRequested,
    SubscriptionError,
    TickerUpdate,
    WsEvent,
)

from .conftest import FakeTime, asyncapi, load_raw

URL = "wss://kalshi.test/trade-api/ws/v2"
D = Decimal
STREAM = load_raw("real-2026-08_WS_orderbook_delta_stream.json")
FRAMES: list[dict[str, Any]] = [f["frame"] for f in STREAM["frames"]]
TICKERS: list[str] = STREAM["tickers"]


class ScriptedConnection:
    """Serves scripted frames, records what the client sends, then reports a close.

    ``hooks[i]`` (an async callable) runs before frame ``i`` is served.
    """

    def __init__(self, frames: list[dict[str, Any]], hooks: dict[int, Any] | None = None) -> None:
        self.incoming = [json.dumps(f) for f in frames]
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.hooks = hooks or {}
        self.served = 0

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))

    async def recv(self) -> str:
        hook = self.hooks.get(self.served)
        self.served += 1
        if hook is not None:
            await hook()
        if self.incoming:
            return self.incoming.pop(0)
        raise ConnectionClosedOK(None, None)

    async def close(self) -> None:
        self.closed = True


class Harness:
    """A client wired to scripted connections, fake time and an event log."""

    def __init__(
        self,
        scripts: list[list[dict[str, Any]]],
        fake_time: FakeTime,
        hooks: list[dict[int, Any]] | None = None,
        **kw: Any,
    ):
        self.scripts = list(scripts)
        self.hooks = list(hooks or [])
        self.conns: list[ScriptedConnection] = []
        self.handshakes: list[dict[str, str]] = []
        self.events: list[WsEvent] = []
        self.fake_time = fake_time
        self.ws = KalshiWebSocket(
            URL,
            on_event=self.events.append,
            connect=self.connect,
            clock=fake_time.clock,
            random_fn=lambda: 0.5,
            sleep=fake_time.sleep,
            **kw,
        )

    async def connect(self, url: str, headers: dict[str, str]) -> ScriptedConnection:
        assert url == URL
        self.handshakes.append(headers)
        if not self.scripts:
            await self.ws.close()
            raise OSError("no more scripted connections")
        conn = ScriptedConnection(self.scripts.pop(0), self.hooks.pop(0) if self.hooks else None)
        self.conns.append(conn)
        return conn

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def replay_oracle(frames: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    """Books from plain dict arithmetic over the frames (the test's independent model)."""
    books: dict[str, tuple[dict, dict]] = {}
    for f in frames:
        msg = f.get("msg", {})
        if f["type"] == "orderbook_snapshot":
            yes = {D(p): D(q) for p, q in msg.get("yes_dollars_fp", [])}
            no = {D(p): D(q) for p, q in msg.get("no_dollars_fp", [])}
            books[msg["market_ticker"]] = (yes, no)
        elif f["type"] == "orderbook_delta":
            yes, no = books[msg["market_ticker"]]
            side = yes if msg["side"] == "yes" else no
            price = D(msg["price_dollars"])
            side[price] = side.get(price, D(0)) + D(msg["delta_fp"])
            if side[price] == 0:
                del side[price]
    return books


async def subscribed(h: Harness) -> None:
    await h.ws.subscribe("orderbook_delta", TICKERS)


async def test_replay_of_the_real_stream_builds_the_books(fake_time) -> None:
    h = Harness([FRAMES], fake_time)
    await subscribed(h)
    await h.ws.run()
    oracle = replay_oracle(FRAMES)
    assert set(oracle) == set(TICKERS)
    assert h.ws.resyncs == 0
    # After the socket closed the books are marked unsynced, but their content is the replay's.
    for ticker, (yes, no) in oracle.items():
        book = h.ws.books[ticker]
        assert book.yes == yes and book.no == no
        assert not book.synced
        bid, ask = book.best_yes_bid, book.best_yes_ask
        assert bid is not None and ask is not None
        assert bid.price == max(yes) and ask.price == 1 - max(no)
        assert bid.price < ask.price  # a real book is never crossed
    updates = h.of(BookUpdate)
    assert sum(u.is_snapshot for u in updates) == 12
    assert sum(not u.is_snapshot for u in updates) == 245


async def test_subscribe_command_matches_the_asyncapi_schema(fake_time) -> None:
    h = Harness([FRAMES[:3]], fake_time)
    await subscribed(h)
    await h.ws.subscribe("fill")
    await h.ws.subscribe("user_orders")
    await h.ws.subscribe("market_positions")
    await h.ws.subscribe("ticker", TICKERS[:2])
    await h.ws.subscribe("trade", TICKERS[:2])
    await h.ws.run()
    sent = h.conns[0].sent
    schemas = asyncapi()["components"]["schemas"]
    schema = {**schemas["subscribeCommandPayload"], "components": {"schemas": schemas}}
    for cmd in sent:
        jsonschema.validate(cmd, schema)
    assert [c["params"]["channels"] for c in sent] == [
        ["orderbook_delta"],
        ["fill"],
        ["user_orders"],
        ["market_positions"],
        ["ticker"],
        ["trade"],
    ]
    assert sent[0]["params"]["market_tickers"] == TICKERS
    assert "market_tickers" not in sent[1]["params"]
    assert len({c["id"] for c in sent}) == len(sent)


async def test_handshake_is_signed_for_the_ws_path(fake_time, rsa_key) -> None:
    h = Harness([FRAMES[:3]], fake_time, auth=KalshiAuth("k", rsa_key, fake_time.clock))
    await subscribed(h)
    await h.ws.run()
    headers = h.handshakes[0]
    ts = int(headers[TIMESTAMP_HEADER])
    assert verify(rsa_key.public_key(), headers[SIGNATURE_HEADER], ts, "GET", "/trade-api/ws/v2")


async def test_a_seq_gap_unsubscribes_resubscribes_and_rebuilds(fake_time) -> None:
    # Drop one recorded delta: the next frame's seq skips, so the client must resync.
    dropped = next(i for i, f in enumerate(FRAMES) if f["type"] == "orderbook_delta" and i > 60)
    gap_frames = FRAMES[:dropped] + FRAMES[dropped + 1 :]
    gap_ticker = FRAMES[dropped]["msg"]["market_ticker"]
    # What Kalshi sends after the resubscribe (command 3): a new sid and fresh snapshots.
    snapshots = [f for f in FRAMES if f["type"] == "orderbook_snapshot"]
    after = [{"type": "subscribed", "id": 3, "msg": {"channel": "orderbook_delta", "sid": 2}}]
    after += [{**s, "sid": 2, "seq": i} for i, s in enumerate(snapshots, 1)]
    h = Harness([gap_frames[: dropped + 1] + after], fake_time)
    await subscribed(h)
    await h.ws.run()
    resyncs = h.of(ResyncRequested)
    assert len(resyncs) == 1 and resyncs[0].channel == "orderbook_delta"
    assert "expected seq" in resyncs[0].reason
    sent = h.conns[0].sent
    assert [c["cmd"] for c in sent] == ["subscribe", "unsubscribe", "subscribe"]
    assert sent[1]["params"] == {"sids": [1]}
    assert sent[2]["params"]["market_tickers"] == TICKERS
    # The rebuilt book equals the recorded snapshot, not the gapped state.
    snap = next(s for s in snapshots if s["msg"]["market_ticker"] == gap_ticker)
    assert h.ws.books[gap_ticker].yes == {D(p): D(q) for p, q in snap["msg"]["yes_dollars_fp"]}


async def test_frames_after_a_gap_are_not_applied_until_the_snapshot(fake_time) -> None:
    dropped = next(i for i, f in enumerate(FRAMES) if f["type"] == "orderbook_delta" and i > 60)
    gap_frames = FRAMES[:dropped] + FRAMES[dropped + 1 :]
    h = Harness([gap_frames], fake_time)
    await subscribed(h)
    await h.ws.run()
    assert h.ws.resyncs == 1
    applied = sum(1 for u in h.of(BookUpdate) if not u.is_snapshot)
    deltas_before_gap = sum(1 for f in FRAMES[:dropped] if f["type"] == "orderbook_delta")
    assert applied == deltas_before_gap  # everything on the stale sid was ignored


async def test_duplicate_frames_are_ignored(fake_time) -> None:
    dup = next(i for i, f in enumerate(FRAMES) if f["type"] == "orderbook_delta" and i > 60)
    frames = [*FRAMES[: dup + 1], FRAMES[dup], *FRAMES[dup + 1 :]]
    h = Harness([frames], fake_time)
    await subscribed(h)
    await h.ws.run()
    assert h.ws.resyncs == 0
    for ticker, (yes, no) in replay_oracle(FRAMES).items():
        assert (h.ws.books[ticker].yes, h.ws.books[ticker].no) == (yes, no)


async def test_reconnect_with_backoff_resubscribes_and_resyncs(fake_time) -> None:
    h = Harness([FRAMES[:50], FRAMES], fake_time)
    await subscribed(h)
    await h.ws.run()
    assert h.ws.connections == 2
    assert [len(c.sent) for c in h.conns] == [1, 1]
    assert all(c.sent[0]["cmd"] == "subscribe" for c in h.conns)
    assert all(c.closed for c in h.conns)
    assert len(h.of(Connected)) == 2 and len(h.of(Disconnected)) >= 2
    assert fake_time.sleeps[0] == 0.5 * 0.5  # jitter * base after a connection that had data
    for ticker, (yes, no) in replay_oracle(FRAMES).items():
        assert (h.ws.books[ticker].yes, h.ws.books[ticker].no) == (yes, no)


async def test_connect_failures_back_off_exponentially(fake_time) -> None:
    h = Harness([], fake_time)
    calls = 0
    original = h.connect

    async def flaky(url: str, headers: dict[str, str]) -> ScriptedConnection:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise OSError("refused")
        return await original(url, headers)

    h.ws._connect = flaky
    await subscribed(h)
    await h.ws.run()
    assert fake_time.sleeps[:3] == [0.5 * 1.0, 0.5 * 2.0, 0.5 * 4.0]


async def test_use_yes_price_books_are_converted_to_the_no_leg(fake_time) -> None:
    snap = next(f for f in FRAMES if f["type"] == "orderbook_snapshot")
    ticker = snap["msg"]["market_ticker"]
    yes_priced = {
        **snap,
        "msg": {
            **snap["msg"],
            "no_dollars_fp": [[str(1 - D(p)), q] for p, q in snap["msg"]["no_dollars_fp"]],
        },
    }
    frames = [FRAMES[0], yes_priced]
    h = Harness([frames], fake_time, use_yes_price=True)
    await subscribed(h)
    await h.ws.run()
    assert h.conns[0].sent[0]["params"]["use_yes_price"] is True
    assert h.ws.books[ticker].no == {D(p): D(q) for p, q in snap["msg"]["no_dollars_fp"]}


def _example(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = asyncapi()["components"]["messages"][name]["examples"][0]["payload"]
    return payload


async def test_other_channels_from_asyncapi_examples(fake_time) -> None:
    fill = _example("fill")
    fill_with_fee = {**fill, "msg": {**fill["msg"], "fee_cost": "0.0500"}}
    frames = [
        {"type": "subscribed", "id": 1, "msg": {"channel": "ticker", "sid": 11}},
        {"type": "subscribed", "id": 2, "msg": {"channel": "fill", "sid": 13}},
        {"type": "subscribed", "id": 3, "msg": {"channel": "user_orders", "sid": 22}},
        {"type": "subscribed", "id": 4, "msg": {"channel": "market_positions", "sid": 14}},
        _example("ticker"),
        _example("trade"),
        fill,  # the spec's own example omits the required fee_cost: logged and skipped
        fill_with_fee,
        _example("userOrder"),
        _example("marketPosition"),
        asyncapi()["components"]["messages"]["errorResponse"]["examples"][0]["payload"],
    ]
    h = Harness([frames], fake_time)
    await h.ws.subscribe("ticker", ["FED-23DEC-T3.00"])
    await h.ws.subscribe("fill")
    await h.ws.subscribe("user_orders")
    await h.ws.subscribe("market_positions")
    await h.ws.run()
    (tick,) = h.of(TickerUpdate)
    assert tick.yes_bid == D("0.450") and tick.yes_ask == D("0.530")
    (trade,) = h.of(Trade)
    assert trade.taker_side is OutcomeSide.NO and trade.yes_price == D("0.360")
    assert trade.count == D("136.00")
    (fill_report,) = h.of(FillReport)
    assert fill_report.price == D("0.750") and fill_report.count == D("278.00")
    assert fill_report.fee == D("0.0500") and fill_report.post_position == D("500.00")
    (order,) = h.of(OrderReport)
    assert order.client_order_id == "my-order-1" and order.remaining == D("10.00")
    assert order.side is OutcomeSide.YES
    (pos,) = h.of(PositionReport)
    assert pos.position == D("100.00") and pos.realized_pnl == D("10.0000")
    (err,) = h.of(SubscriptionError)
    assert err.code == 6


async def test_added_markets_are_sent_as_update_subscription(fake_time) -> None:
    # The recorded stream was itself made this way: one market subscribed, eleven added
    # (its "subscribed" frame, then snapshots and "ok" answers on the same sid).
    first, more = TICKERS[0], TICKERS[1:3]
    h: Harness
    hooks = {
        0: lambda: h.ws.add_markets("orderbook_delta", more),  # before the ack
        3: lambda: h.ws.add_markets("orderbook_delta", [TICKERS[3], first]),
        5: lambda: h.ws.add_markets("orderbook_delta", more),  # nothing new
    }
    h = Harness([FRAMES[:40], FRAMES[:1]], fake_time, hooks=[hooks])
    await h.ws.subscribe("orderbook_delta", [first])
    await h.ws.run()
    sent = h.conns[0].sent
    assert [c["cmd"] for c in sent] == ["subscribe", "update_subscription", "update_subscription"]
    assert sent[0]["params"]["market_tickers"] == [first]
    # Added while the subscribe was unanswered: sent once the sid was known.
    assert sent[1]["params"] == {"sids": [1], "market_tickers": more, "action": "add_markets"}
    assert sent[2]["params"]["market_tickers"] == [TICKERS[3]]
    schemas = asyncapi()["components"]["schemas"]
    schema = {**schemas["updateSubscriptionCommandPayload"], "components": {"schemas": schemas}}
    for cmd in sent[1:]:
        jsonschema.validate(cmd, schema)
    assert set(TICKERS[:4]) <= set(h.ws.books)
    # A new connection subscribes every market, the added ones included.
    (again,) = h.conns[1].sent
    assert again["cmd"] == "subscribe" and again["params"]["market_tickers"] == TICKERS[:4]


async def test_markets_added_before_connecting_join_the_first_subscribe(fake_time) -> None:
    h = Harness([FRAMES[:3]], fake_time)
    await h.ws.add_markets("orderbook_delta", TICKERS[:2])  # no subscription yet: subscribes
    await h.ws.add_markets("orderbook_delta", TICKERS[2:4])
    await h.ws.run()
    (sent,) = h.conns[0].sent
    assert sent["cmd"] == "subscribe" and sent["params"]["market_tickers"] == TICKERS[:4]
    await h.ws.subscribe("fill")
    with pytest.raises(ValueError, match="no market list"):
        await h.ws.add_markets("fill", TICKERS[:1])


async def test_subscribe_validation() -> None:
    ws = KalshiWebSocket(URL)
    with pytest.raises(ValueError, match="needs market tickers"):
        await ws.subscribe("orderbook_delta", [])
    with pytest.raises(ValueError, match="unsupported"):
        await ws.subscribe("nonsense")


def test_fill_without_fee_is_refused() -> None:
    from milkbot.venues.kalshi import parsing

    with pytest.raises(ParseError):
        parsing.ws_fill(_example("fill")["msg"])


def test_counts_per_type_in_the_recording() -> None:
    counts: dict[str, int] = defaultdict(int)
    for f in FRAMES:
        counts[f["type"]] += 1
    assert dict(counts) == STREAM["counts"]
