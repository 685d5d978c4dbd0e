"""The local exchange's REST responses and WebSocket messages validate against Kalshi's spec."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import websockets
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.domain.market import BookSide
from milkbot.venues.exchange.matching import MarketStatus

from .conftest import KEY_ID, KalshiAuth, LiveExchange, signed_headers

SPEC = Path(__file__).resolve().parents[2] / "fixtures" / "exchange" / "spec"


def _openapi_to_jsonschema(node: Any) -> Any:
    """Turn OpenAPI 3.0 ``nullable`` into JSON-schema null types, recursively."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-")}
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def schema(page: str, name: str) -> dict[str, Any]:
    """A response schema from a vendored docs page, with its components for ``$ref``."""
    text = (SPEC / page).read_text()
    block = re.search(r"````yaml[^\n]*\n(.*?)````", text, re.S)
    assert block is not None
    doc = yaml.safe_load(block.group(1))
    schemas = _openapi_to_jsonschema(doc["components"]["schemas"])
    return {**schemas[name], "components": {"schemas": schemas}}


def check(page: str, name: str, payload: Any) -> None:
    """Validate ``payload`` against the named schema."""
    jsonschema.validate(payload, schema(page, name))


def _ticker(live: LiveExchange) -> str:
    for ticker, market in sorted(live.state.engine.markets.items()):
        if market.status is MarketStatus.ACTIVE and market.best(BookSide.ASK):
            return ticker
    raise AssertionError("no active market")


async def test_rest_responses_match_the_spec(
    live: LiveExchange, private_key: rsa.RSAPrivateKey
) -> None:
    ticker = _ticker(live)
    ask = live.state.engine.markets[ticker].best(BookSide.ASK)
    assert ask is not None
    async with httpx.AsyncClient(base_url=live.api, auth=KalshiAuth(private_key)) as http:

        async def get(path: str, **params: Any) -> Any:
            r = await http.get(path, params=params)
            assert r.status_code == 200, r.text
            return r.json()

        check("get-exchange-status.md", "ExchangeStatus", await get("/exchange/status"))
        check(
            "get-exchange-schedule.md",
            "GetExchangeScheduleResponse",
            await get("/exchange/schedule"),
        )
        check("get-series.md", "GetSeriesResponse", await get("/series/KXHIGHMIA"))
        check("get-markets.md", "GetMarketsResponse", await get("/markets", limit=50))
        market = await get(f"/markets/{ticker}")
        check("get-market.md", "GetMarketResponse", market)
        check(
            "get-market-orderbook.md",
            "GetMarketOrderbookResponse",
            await get(f"/markets/{ticker}/orderbook"),
        )
        check("get-trades.md", "GetTradesResponse", await get("/markets/trades", ticker=ticker))
        event = market["market"]["event_ticker"]
        check("get-event.md", "GetEventResponse", await get(f"/events/{event}"))
        check(
            "get-events.md", "GetEventsResponse", await get("/events", with_nested_markets="true")
        )

        body = {
            "ticker": ticker,
            "client_order_id": "spec-1",
            "side": "bid",
            "count": "2.00",
            "price": str(ask[0]),
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
        }
        created = (await http.post("/portfolio/events/orders", json=body)).json()
        check("create-order-v2.md", "CreateOrderV2Response", created)
        resting = dict(body, client_order_id="spec-2", price="0.01", count="5")
        oid = (await http.post("/portfolio/events/orders", json=resting)).json()["order_id"]
        amend = {"ticker": ticker, "side": "bid", "price": "0.02", "count": "6"}
        amended = (await http.post(f"/portfolio/events/orders/{oid}/amend", json=amend)).json()
        check("amend-order-v2.md", "AmendOrderV2Response", amended)
        decreased = (
            await http.post(f"/portfolio/events/orders/{oid}/decrease", json={"reduce_to": "3"})
        ).json()
        check("decrease-order-v2.md", "DecreaseOrderV2Response", decreased)
        check("get-order.md", "GetOrderResponse", await get(f"/portfolio/orders/{oid}"))
        check("get-orders.md", "GetOrdersResponse", await get("/portfolio/orders"))
        cancelled = (await http.delete(f"/portfolio/events/orders/{oid}")).json()
        check("cancel-order-v2.md", "CancelOrderV2Response", cancelled)
        batch = (
            await http.post(
                "/portfolio/events/orders/batched",
                json={"orders": [dict(resting, client_order_id="spec-3"), resting]},
            )
        ).json()
        check("batch-create-orders-v2.md", "BatchCreateOrdersV2Response", batch)
        batch_cancel = (
            await http.request(
                "DELETE",
                "/portfolio/events/orders/batched",
                json={
                    "orders": [{"order_id": batch["orders"][0]["order_id"]}, {"order_id": "nope"}]
                },
            )
        ).json()
        check("batch-cancel-orders-v2.md", "BatchCancelOrdersV2Response", batch_cancel)
        check("get-fills.md", "GetFillsResponse", await get("/portfolio/fills"))
        check("get-positions.md", "GetPositionsResponse", await get("/portfolio/positions"))
        check("get-balance.md", "GetBalanceResponse", await get("/portfolio/balance"))
        r = await http.post("/portfolio/order_groups/create", json={"contracts_limit_fp": "5.00"})
        assert r.status_code == 201
        check("create-order-group.md", "CreateOrderGroupResponse", r.json())
        gid = r.json()["order_group_id"]
        check("get-order-groups.md", "GetOrderGroupsResponse", await get("/portfolio/order_groups"))
        group = await get(f"/portfolio/order_groups/{gid}")
        check("get-order-group.md", "GetOrderGroupResponse", group)
        for verb, suffix, page, body in (
            ("PUT", "/limit", "update-order-group-limit.md", {"contracts_limit": 7}),
            ("PUT", "/trigger", "trigger-order-group.md", None),
            ("PUT", "/reset", "reset-order-group.md", None),
            ("DELETE", "", "delete-order-group.md", None),
        ):
            r = await http.request(verb, f"/portfolio/order_groups/{gid}{suffix}", json=body)
            assert r.status_code == 200, r.text
            check(page, "EmptyResponse", r.json())
        info = live.state.infos[ticker]
        assert info.close_time is not None
        from datetime import timedelta

        live.clock.current = info.close_time + timedelta(hours=2)
        live.state.tick()
        settlements = await get("/portfolio/settlements")
        assert settlements["settlements"]
        check("get-settlements.md", "GetSettlementsResponse", settlements)
        check("get-market.md", "GetMarketResponse", await get(f"/markets/{ticker}"))


def _message_schemas() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((SPEC / "asyncapi-2026-08-22.yaml").read_text())
    schemas = doc["components"]["schemas"]
    # The spec's ticker pattern ^[A-Z0-9-]+$ rejects its own example "HIGHNY-22DEC23-B53.5";
    # real bracket tickers carry a dot, so the pattern is dropped.
    schemas["marketTicker"].pop("pattern", None)
    variants: dict[str, list[dict[str, Any]]] = {}
    for name, body in schemas.items():
        const = body.get("properties", {}).get("type", {}).get("const")
        if name.endswith("Payload") and const:
            variants.setdefault(const, []).append(body)
    # "ok" answers both update_subscription and list_subscriptions: accept either shape.
    return {k: {"anyOf": v, "components": {"schemas": schemas}} for k, v in variants.items()}


async def test_websocket_messages_match_the_asyncapi_spec(
    live: LiveExchange, private_key: rsa.RSAPrivateKey
) -> None:
    ticker = _ticker(live)
    ask = live.state.engine.markets[ticker].best(BookSide.ASK)
    assert ask is not None
    schemas = _message_schemas()
    headers = signed_headers(private_key, KEY_ID, "GET", "/trade-api/ws/v2")
    async with websockets.connect(live.ws, additional_headers=headers) as ws:
        channels = ["orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions"]
        await ws.send(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": channels, "market_tickers": [ticker]},
                }
            )
        )
        async with httpx.AsyncClient(base_url=live.api, auth=KalshiAuth(private_key)) as http:
            body = {
                "ticker": ticker,
                "client_order_id": "ws-spec",
                "side": "bid",
                "count": "1",
                "price": str(ask[0]),
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
            }
            assert (await http.post("/portfolio/events/orders", json=body)).status_code == 201
        await ws.send(
            json.dumps(
                {
                    "id": 2,
                    "cmd": "update_subscription",
                    "params": {"sids": [1], "action": "add_markets", "market_tickers": [ticker]},
                }
            )
        )
        await ws.send(json.dumps({"id": 3, "cmd": "unsubscribe", "params": {"sids": [99]}}))
        await ws.send(json.dumps({"id": 4, "cmd": "list_subscriptions"}))
        kinds: set[str] = set()
        wanted = {
            "subscribed",
            "orderbook_snapshot",
            "orderbook_delta",
            "ticker",
            "trade",
            "fill",
            "user_order",
            "market_position",
            "ok",
            "error",
        }
        while not wanted <= kinds:
            frame = json.loads(await ws.recv())
            kinds.add(frame["type"])
            jsonschema.validate(frame, schemas[frame["type"]])
