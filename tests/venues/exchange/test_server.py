"""The exchange over real HTTP on 127.0.0.1: wire shapes, signatures, the order lifecycle."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.domain.market import BookSide
from milkbot.venues.exchange.matching import MarketStatus

from .conftest import KEY_ID, KalshiAuth, LiveExchange, signed_headers


def _open_ticker(live: LiveExchange) -> str:
    """An active market with both a bid and an ask from the tape."""
    for ticker, market in sorted(live.state.engine.markets.items()):
        if (
            market.status is MarketStatus.ACTIVE
            and market.best(BookSide.BID)
            and market.best(BookSide.ASK)
        ):
            return ticker
    raise AssertionError("no two-sided active market at SIM_NOW")


async def test_public_market_data(live: LiveExchange) -> None:
    async with httpx.AsyncClient(base_url=live.api) as http:
        status = (await http.get("/exchange/status")).json()
        assert status["trading_active"] is True
        series = (await http.get("/series/KXHIGHNY")).json()["series"]
        assert (series["fee_type"], series["fee_multiplier"]) == ("quadratic", 1)
        page = (await http.get("/markets", params={"series_ticker": "KXHIGHNY", "limit": 4})).json()
        assert len(page["markets"]) == 4 and page["cursor"]
        rest = (
            await http.get(
                "/markets",
                params={"series_ticker": "KXHIGHNY", "limit": 100, "cursor": page["cursor"]},
            )
        ).json()
        tickers = [m["ticker"] for m in page["markets"] + rest["markets"]]
        assert len(tickers) == len(set(tickers)) == 18 and rest["cursor"] == ""
        active = (await http.get("/markets", params={"status": "open"})).json()["markets"]
        assert active and all(m["status"] == "active" for m in active)
        ticker = _open_ticker(live)
        market = (await http.get(f"/markets/{ticker}")).json()["market"]
        assert market["price_ranges"][0]["step"] == "0.0100"
        assert Decimal(market["yes_bid_dollars"]) < Decimal(market["yes_ask_dollars"])
        book = (await http.get(f"/markets/{ticker}/orderbook")).json()["orderbook_fp"]
        best_no = Decimal(book["no_dollars"][-1][0])
        assert Decimal(market["yes_ask_dollars"]) == 1 - best_no
        assert Decimal(book["yes_dollars"][-1][0]) == Decimal(market["yes_bid_dollars"])
        trades = (await http.get("/markets/trades", params={"ticker": ticker, "limit": 5})).json()
        assert len(trades["trades"]) == 5
        assert {"yes_price_dollars", "count_fp", "taker_outcome_side"} <= trades["trades"][0].keys()
        event = (await http.get(f"/events/{market['event_ticker']}")).json()
        assert len(event["markets"]) == 6
        health = (await http.get(live.url + "/health")).json()
        assert health["sim_time"] == "2025-04-06T18:00:00Z"


async def test_unsigned_and_badly_signed_requests_get_401(
    live: LiveExchange, private_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    path = "/trade-api/v2/portfolio/balance"
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get(path)).status_code == 401
        wrong_key = signed_headers(other_key, KEY_ID, "GET", path)
        r = await http.get(path, headers=wrong_key)
        assert r.status_code == 401 and r.json()["code"] == "authentication_error"
        wrong_path = signed_headers(private_key, KEY_ID, "GET", "/trade-api/v2/portfolio/fills")
        assert (await http.get(path, headers=wrong_path)).status_code == 401
        unknown_id = signed_headers(private_key, "someone-else", "GET", path)
        assert (await http.get(path, headers=unknown_id)).status_code == 401
        good = signed_headers(private_key, KEY_ID, "GET", path)
        r = await http.get(path + "?subaccount=0", headers=good)
        assert r.status_code == 200 and r.json()["balance"] == 100_000


def _order(
    ticker: str, side: str, price: str, count: str, cid: str | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "client_order_id": cid or str(uuid.uuid4()),
        "side": side,
        "count": count,
        "price": price,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        **kw,
    }


async def test_order_lifecycle(live: LiveExchange, private_key: rsa.RSAPrivateKey) -> None:
    ticker = _open_ticker(live)
    market = live.state.engine.markets[ticker]
    best_bid = market.best(BookSide.BID)
    best_ask = market.best(BookSide.ASK)
    assert best_bid and best_ask
    async with httpx.AsyncClient(base_url=live.api, auth=KalshiAuth(private_key)) as http:
        # A passive bid one cent under the best bid rests.
        passive = str(best_bid[0] - Decimal("0.01"))
        body = _order(ticker, "bid", passive, "3.00", cid="cid-1")
        r = await http.post("/portfolio/events/orders", json=body)
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["fill_count"], created["remaining_count"]) == ("0.00", "3.00")
        # Retrying with the same client_order_id is refused and creates nothing.
        r = await http.post("/portfolio/events/orders", json=body)
        assert r.status_code == 409 and r.json()["code"] == "order_already_exists"
        orders = (await http.get("/portfolio/orders", params={"ticker": ticker})).json()["orders"]
        assert [o["client_order_id"] for o in orders] == ["cid-1"]
        assert orders[0]["status"] == "resting" and orders[0]["book_side"] == "bid"
        # Decrease, amend, cancel.
        oid = created["order_id"]
        r = await http.post(f"/portfolio/events/orders/{oid}/decrease", json={"reduce_by": "1.00"})
        assert r.json()["remaining_count"] == "2.00"
        r = await http.post(
            f"/portfolio/events/orders/{oid}/amend",
            json={"ticker": ticker, "side": "bid", "price": passive, "count": "5.00"},
        )
        assert r.status_code == 200 and r.json()["remaining_count"] == "5.00"
        r = await http.delete(f"/portfolio/events/orders/{oid}")
        assert r.status_code == 200 and r.json()["reduced_by"] == "5.00"
        assert (await http.delete(f"/portfolio/events/orders/{oid}")).status_code == 400
        assert (await http.get(f"/portfolio/orders/{oid}")).json()["order"]["status"] == "canceled"
        # A marketable bid takes the tape maker's ask.
        r = await http.post(
            "/portfolio/events/orders",
            json=_order(
                ticker, "bid", str(best_ask[0]), "2.00", time_in_force="immediate_or_cancel"
            ),
        )
        taken = r.json()
        assert taken["fill_count"] == "2.00" and Decimal(taken["average_fill_price"]) == best_ask[0]
        fills = (await http.get("/portfolio/fills")).json()["fills"]
        assert len(fills) == 1 and fills[0]["is_taker"] is True and fills[0]["count_fp"] == "2.00"
        positions = (await http.get("/portfolio/positions")).json()
        assert positions["market_positions"][0]["position_fp"] == "2.00"
        balance = (await http.get("/portfolio/balance")).json()
        cost = best_ask[0] * 2 + Decimal(fills[0]["fee_cost"])
        assert Decimal(balance["balance_dollars"]) == Decimal(1000) - cost
        # Batch create and batch cancel.
        r = await http.post(
            "/portfolio/events/orders/batched",
            json={
                "orders": [_order(ticker, "bid", "0.01", "1"), _order(ticker, "bid", "0.5", "0")]
            },
        )
        batch = r.json()["orders"]
        assert (
            batch[0]["remaining_count"] == "1.00"
            and batch[1]["error"]["code"] == "invalid_parameters"
        )
        r = await http.request(
            "DELETE",
            "/portfolio/events/orders/batched",
            json={"orders": [{"order_id": batch[0]["order_id"]}]},
        )
        assert r.json()["orders"][0]["reduced_by"] == "1.00"


async def test_settlement_after_close(live: LiveExchange, private_key: rsa.RSAPrivateKey) -> None:
    ticker = _open_ticker(live)
    info = live.state.infos[ticker]
    best_ask = live.state.engine.markets[ticker].best(BookSide.ASK)
    assert best_ask and info.close_time
    async with httpx.AsyncClient(base_url=live.api, auth=KalshiAuth(private_key)) as http:
        await http.post(
            "/portfolio/events/orders", json=_order(ticker, "bid", str(best_ask[0]), "1")
        )
        from datetime import timedelta

        live.clock.current = info.close_time + timedelta(hours=2)
        live.state.tick()
        market = (await http.get(f"/markets/{ticker}")).json()["market"]
        assert market["status"] == "finalized" and market["result"] == info.result
        settlements = (await http.get("/portfolio/settlements")).json()["settlements"]
        assert settlements[0]["ticker"] == ticker
        assert settlements[0]["revenue"] == (100 if info.result == "yes" else 0)
        assert (await http.get("/portfolio/positions")).json()["market_positions"] == []
        r = await http.post("/portfolio/events/orders", json=_order(ticker, "bid", "0.5", "1"))
        assert r.status_code == 400 and r.json()["code"] == "market_closed"
