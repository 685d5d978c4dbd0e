"""The exchange's WebSocket: signed handshake, snapshot then deltas, private channels, faults."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.datasets import Dataset
from milkbot.domain.market import BookSide
from milkbot.venues.exchange.faults import FaultConfig
from milkbot.venues.exchange.matching import MarketStatus

from .conftest import KEY_ID, KalshiAuth, LiveExchange, make_state, serve, signed_headers

WS_PATH = "/trade-api/ws/v2"


def _two_sided(live: LiveExchange) -> str:
    for ticker, market in sorted(live.state.engine.markets.items()):
        if (
            market.status is MarketStatus.ACTIVE
            and market.best(BookSide.BID)
            and market.best(BookSide.ASK)
        ):
            return ticker
    raise AssertionError("no two-sided market")


async def _recv(ws: Any, wait: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return frame


async def _recv_until(ws: Any, kind: str, wait: float = 5.0) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await _recv(ws, wait)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


async def test_handshake_needs_a_valid_signature(
    live: LiveExchange, private_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        async with websockets.connect(live.ws):
            pass
    assert e.value.response.status_code in (401, 403)
    bad = signed_headers(other_key, KEY_ID, "GET", WS_PATH)
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(live.ws, additional_headers=bad):
            pass
    good = signed_headers(private_key, KEY_ID, "GET", WS_PATH)
    async with websockets.connect(live.ws, additional_headers=good) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "bogus", "params": {}}))
        assert (await _recv(ws))["msg"]["code"] == 5


async def test_snapshot_then_consecutive_deltas_and_private_channels(
    live: LiveExchange, private_key: rsa.RSAPrivateKey
) -> None:
    ticker = _two_sided(live)
    market = live.state.engine.markets[ticker]
    best_ask = market.best(BookSide.ASK)
    assert best_ask
    headers = signed_headers(private_key, KEY_ID, "GET", WS_PATH)
    async with websockets.connect(live.ws, additional_headers=headers) as ws:
        await ws.send(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_ticker": ticker},
                }
            )
        )
        subscribed = await _recv(ws)
        assert subscribed == {
            "id": 1,
            "type": "subscribed",
            "msg": {"channel": "orderbook_delta", "sid": 1},
        }
        snap = await _recv(ws)
        assert (snap["type"], snap["sid"], snap["seq"]) == ("orderbook_snapshot", 1, 1)
        yes = {Decimal(p): Decimal(q) for p, q in snap["msg"]["yes_dollars_fp"]}
        no = {Decimal(p): Decimal(q) for p, q in snap["msg"]["no_dollars_fp"]}
        assert 1 - max(no) == best_ask[0]
        await ws.send(
            json.dumps(
                {"id": 2, "cmd": "subscribe", "params": {"channels": ["fill", "user_orders"]}}
            )
        )
        await _recv_until(ws, "subscribed")
        await _recv_until(ws, "subscribed")
        async with httpx.AsyncClient(base_url=live.api, auth=KalshiAuth(private_key)) as http:
            body = {
                "ticker": ticker,
                "client_order_id": "ws-1",
                "side": "bid",
                "count": "1.00",
                "price": str(best_ask[0]),
                "time_in_force": "immediate_or_cancel",
                "self_trade_prevention_type": "taker_at_cross",
            }
            assert (await http.post("/portfolio/events/orders", json=body)).status_code == 201
            resting = dict(
                body, client_order_id="ws-2", price="0.01", time_in_force="good_till_canceled"
            )
            assert (await http.post("/portfolio/events/orders", json=resting)).status_code == 201
        seen: dict[str, list[dict[str, Any]]] = {}
        seq = 1
        while (
            "user_order" not in seen
            or len(seen.get("orderbook_delta", [])) < 2
            or "fill" not in seen
        ):
            frame = await _recv(ws)
            seen.setdefault(frame["type"], []).append(frame)
            if frame["type"] == "orderbook_delta":
                seq += 1
                assert frame["seq"] == seq
                msg = frame["msg"]
                book = yes if msg["side"] == "yes" else no
                price = Decimal(msg["price_dollars"])
                book[price] = book.get(price, Decimal(0)) + Decimal(msg["delta_fp"])
        fill = seen["fill"][0]["msg"]
        assert (fill["client_order_id"], fill["count_fp"], fill["is_taker"]) == (
            "ws-1",
            "1.00",
            True,
        )
        await asyncio.sleep(0.05)
        while True:  # drain the rest of the deltas caused by our two orders
            try:
                frame = await _recv(ws, 0.3)
            except TimeoutError:
                break
            if frame["type"] == "orderbook_delta":
                seq += 1
                assert frame["seq"] == seq
                msg = frame["msg"]
                book = yes if msg["side"] == "yes" else no
                price = Decimal(msg["price_dollars"])
                book[price] = book.get(price, Decimal(0)) + Decimal(msg["delta_fp"])
        # The book rebuilt from snapshot + deltas equals the exchange's book.
        assert {p: q for p, q in yes.items() if q} == dict(market.depth(BookSide.BID))
        assert {1 - p: q for p, q in no.items() if q} == dict(market.depth(BookSide.ASK))
        assert (
            any(m["msg"].get("client_order_id") == "ws-2" for m in seen.get("orderbook_delta", []))
            or yes.get(Decimal("0.01"), Decimal(0)) >= 1
        )


async def test_seq_gap_fault_is_visible(
    demo_dataset: Dataset, private_key: rsa.RSAPrivateKey
) -> None:
    state, clock = make_state(
        demo_dataset, private_key, faults=FaultConfig(ws_seq_gap_rate=0.3, seed=7)
    )
    async for url in serve(state):
        live = LiveExchange(url, state, clock)
        ticker = _two_sided(live)
        headers = signed_headers(private_key, KEY_ID, "GET", WS_PATH)
        async with websockets.connect(live.ws, additional_headers=headers) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "cmd": "subscribe",
                        "params": {"channels": ["orderbook_delta"], "market_tickers": [ticker]},
                    }
                )
            )
            await _recv_until(ws, "orderbook_snapshot")
            async with httpx.AsyncClient(base_url=live.api, auth=KalshiAuth(private_key)) as http:
                for i in range(20):
                    body = {
                        "ticker": ticker,
                        "client_order_id": f"gap-{i}",
                        "side": "bid",
                        "count": "1.00",
                        "price": "0.01",
                        "time_in_force": "good_till_canceled",
                        "self_trade_prevention_type": "taker_at_cross",
                    }
                    r = await http.post("/portfolio/events/orders", json=body)
                    assert r.status_code in (201, 503, 504, 429)
            seqs = [1]
            while True:
                try:
                    frame = await _recv(ws, 0.5)
                except TimeoutError:
                    break
                seqs.append(frame["seq"])
        gaps = [b - a for a, b in itertools.pairwise(seqs) if b - a != 1]
        assert gaps and all(g > 1 for g in gaps)


async def test_anonymous_websocket_gets_public_channels_only(
    demo_dataset: Dataset, private_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    state, clock = make_state(demo_dataset, private_key)
    state.keys.anonymous_ws = True
    async for url in serve(state):
        live = LiveExchange(url, state, clock)
        ticker = _two_sided(live)
        async with websockets.connect(live.ws) as ws:
            params = {"channels": ["orderbook_delta", "fill"], "market_tickers": [ticker]}
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": params}))
            frames = [await _recv(ws) for _ in range(3)]
            kinds = {(f["type"], f.get("msg", {}).get("code")) for f in frames}
            assert kinds == {("subscribed", None), ("orderbook_snapshot", None), ("error", 9)}
        # A wrong signature is still refused, anonymous mode or not.
        bad = signed_headers(other_key, KEY_ID, "GET", WS_PATH)
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(live.ws, additional_headers=bad):
                pass
