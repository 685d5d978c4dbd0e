"""The REST client against recorded payloads served at the transport, and the spec's shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest

from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import Action, OrderRequest, TimeInForce
from milkbot.errors import ConfigError, OutcomeUnknownError, ParseError, TransientUpstreamError
from milkbot.venues.kalshi.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, KalshiAuth, verify
from milkbot.venues.kalshi.client import KalshiClient, KalshiRejection
from milkbot.venues.kalshi.ratelimit import RateLimits

from .conftest import FakeTime, load_payload, spec_schema, spec_schemas

BASE = "https://kalshi.test/trade-api/v2"
D = Decimal
OPEN = "real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def make_client(
    handler: Recorder, fake_time: FakeTime, *, auth: KalshiAuth | None = None, **kw: Any
) -> KalshiClient:
    return KalshiClient(
        BASE,
        auth=auth,
        transport=httpx.MockTransport(handler),
        clock=fake_time.clock,
        random_fn=lambda: 0.5,
        sleep=fake_time.sleep,
        **kw,
    )


def order(**kw: Any) -> OrderRequest:
    base: dict[str, Any] = {
        "ticker": "KXHIGHNY-26JUL12-B88.5",
        "side": OutcomeSide.YES,
        "action": Action.BUY,
        "price": D("0.42"),
        "count": D("10"),
        "client_order_id": "8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1",
    }
    return OrderRequest(**{**base, **kw})


CREATED = httpx.Response(
    201,
    json={
        "order_id": "3b23c1c7",
        "client_order_id": "8c35ecb3-328f-4f52-8c7c-0f4b9862f8d1",
        "fill_count": "0.00",
        "remaining_count": "10.00",
        "ts_ms": 1715793600123,
    },
)


@pytest.fixture
def auth(rsa_key, fake_time: FakeTime) -> KalshiAuth:
    return KalshiAuth("test-key", rsa_key, fake_time.clock)


# --- pagination ---


async def test_pagination_follows_cursor_to_the_end_with_identical_filters(fake_time) -> None:
    markets = load_payload(OPEN)["markets"]
    pages = {None: ("c1", markets[:1]), "c1": ("c2", markets[1:2]), "c2": ("", markets[2:])}

    def serve(request: httpx.Request) -> httpx.Response:
        cursor, items = pages[request.url.params.get("cursor")]
        return httpx.Response(200, json={"markets": items, "cursor": cursor})

    rec = Recorder(serve)
    async with make_client(rec, fake_time) as client:
        got = await client.get_markets(series_ticker="KXHIGHNY", status="open")
    assert [m.ticker for m in got] == [m["ticker"] for m in markets]
    assert len(rec.requests) == 3
    for r in rec.requests:
        assert r.url.path == "/trade-api/v2/markets"
        assert r.url.params["series_ticker"] == "KXHIGHNY"
        assert r.url.params["status"] == "open"
        assert r.url.params["limit"] == "1000"
    assert [r.url.params.get("cursor") for r in rec.requests] == [None, "c1", "c2"]


async def test_a_repeated_cursor_is_an_error_not_a_loop(fake_time) -> None:
    rec = Recorder(httpx.Response(200, json={"markets": [], "cursor": "same"}))
    async with make_client(rec, fake_time) as client:
        with pytest.raises(ParseError, match="repeated"):
            await client.get_markets(series_ticker="KXHIGHNY")
    assert len(rec.requests) == 2


# --- retries and unknown outcomes ---


async def test_429_is_retried_with_jittered_backoff(fake_time) -> None:
    rec = Recorder(
        httpx.Response(429, json={"error": "too many requests"}),
        httpx.Response(200, json=load_payload(OPEN)),
    )
    async with make_client(rec, fake_time) as client:
        got = await client.get_markets(series_ticker="KXHIGHNY")
    assert len(got) == 3 and len(rec.requests) == 2
    assert fake_time.sleeps == [0.5 * 0.25]  # random_fn() * base * 2**0


async def test_reads_give_up_after_retries_on_5xx(fake_time) -> None:
    rec = Recorder(httpx.Response(503, text="unavailable"))
    async with make_client(rec, fake_time, max_retries=3) as client:
        with pytest.raises(TransientUpstreamError, match="503"):
            await client.get_exchange_status()
    assert len(rec.requests) == 4
    assert fake_time.sleeps == [0.125, 0.25, 0.5]


async def test_read_timeout_on_a_read_is_retried(fake_time) -> None:
    rec = Recorder(
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json=load_payload("legacy-2026-01_exchange_status_response.json")),
    )
    async with make_client(rec, fake_time) as client:
        status = await client.get_exchange_status()
    assert status.trading_active and len(rec.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("lost"), httpx.RemoteProtocolError("dropped"), httpx.Response(500)],
    ids=["read-timeout", "connection-lost", "http-500"],
)
async def test_order_with_unknown_outcome_is_reported_unknown_and_not_resent(
    fake_time, auth, failure
) -> None:
    rec = Recorder(failure, CREATED)
    async with make_client(rec, fake_time, auth=auth) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.create_order(order())
    assert len(rec.requests) == 1


async def test_cancel_timeout_is_unknown(fake_time, auth) -> None:
    rec = Recorder(httpx.WriteTimeout("lost"))
    async with make_client(rec, fake_time, auth=auth) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.cancel_order("o1")
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(429, json={"error": "too many requests"}), httpx.ConnectError("refused")],
    ids=["429", "connect-error"],
)
async def test_order_never_processed_is_retried(fake_time, auth, failure) -> None:
    rec = Recorder(failure, CREATED)
    async with make_client(rec, fake_time, auth=auth) as client:
        ack = await client.create_order(order())
    assert ack.order_id == "3b23c1c7" and len(rec.requests) == 2


async def test_resend_on_request_reuses_the_same_client_order_id(fake_time, auth) -> None:
    rec = Recorder(httpx.ReadTimeout("lost"), CREATED)
    async with make_client(rec, fake_time, auth=auth) as client:
        ack = await client.create_order(order(), resend_unknown=True)
    assert ack.client_order_id == order().client_order_id
    first, second = rec.bodies()
    assert first == second and first["client_order_id"] == order().client_order_id


async def test_resend_that_never_gets_an_answer_stays_unknown(fake_time, auth) -> None:
    rec = Recorder(httpx.ReadTimeout("lost"))
    async with make_client(rec, fake_time, auth=auth, max_retries=2) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.create_order(order(), resend_unknown=True)
    assert len(rec.requests) == 3


async def test_4xx_is_a_rejection_with_kalshis_code(fake_time, auth) -> None:
    body = {"code": "insufficient_balance", "message": "not enough", "details": ""}
    rec = Recorder(httpx.Response(400, json=body))
    async with make_client(rec, fake_time, auth=auth) as client:
        with pytest.raises(KalshiRejection) as info:
            await client.create_order(order())
    assert info.value.code == "insufficient_balance" and info.value.status == 400
    assert len(rec.requests) == 1


# --- auth ---


async def test_portfolio_needs_a_key_and_public_data_does_not(fake_time) -> None:
    rec = Recorder(httpx.Response(200, json=load_payload(OPEN)))
    async with make_client(rec, fake_time) as client:
        with pytest.raises(ConfigError):
            await client.get_balance()
        await client.get_markets(series_ticker="KXHIGHNY")
    assert SIGNATURE_HEADER not in rec.requests[0].headers


async def test_signed_request_verifies_with_the_public_key(fake_time, auth, rsa_key) -> None:
    rec = Recorder(
        httpx.Response(200, json=load_payload("legacy-2026-01_portfolio_balance_response.json"))
    )
    async with make_client(rec, fake_time, auth=auth) as client:
        bal = await client.get_balance()
    assert bal.balance == D("100")
    req = rec.requests[0]
    ts = int(req.headers[TIMESTAMP_HEADER])
    assert ts == int(fake_time.clock.now().timestamp() * 1000)
    assert verify(rsa_key.public_key(), req.headers[SIGNATURE_HEADER], ts, "GET", req.url.path)
    assert req.url.path == "/trade-api/v2/portfolio/balance"


# --- rate limiting ---


async def test_read_bucket_delays_requests_beyond_the_budget(fake_time) -> None:
    rec = Recorder(httpx.Response(200, json=load_payload(OPEN)))
    limits = RateLimits(read_per_second=20, write_per_second=10)
    async with make_client(rec, fake_time, rate_limits=limits) as client:
        for _ in range(3):
            await client.get_markets(series_ticker="KXHIGHNY")
    assert fake_time.sleeps == [0.5]  # two requests fit the 20-token burst, the third waits


async def test_batch_larger_than_the_write_bucket_is_refused(fake_time, auth) -> None:
    rec = Recorder(CREATED)
    limits = RateLimits(write_per_second=100)
    async with make_client(rec, fake_time, auth=auth, rate_limits=limits) as client:
        reqs = [order(client_order_id=f"c{i}") for i in range(11)]
        with pytest.raises(ConfigError):
            await client.batch_create_orders(reqs)
    assert rec.requests == []


# --- request shapes from the spec ---


def _check_against_spec(body: Any, page: str, name: str) -> None:
    schema = spec_schema(page, name)
    jsonschema.validate(body, schema)
    assert set(body) <= set(schema["properties"]), set(body) - set(schema["properties"])


@pytest.mark.parametrize(
    ("side", "action", "price", "wire_side", "wire_price"),
    [
        (OutcomeSide.YES, Action.BUY, "0.42", "bid", "0.4200"),
        (OutcomeSide.YES, Action.SELL, "0.42", "ask", "0.4200"),
        (OutcomeSide.NO, Action.BUY, "0.42", "ask", "0.5800"),
        (OutcomeSide.NO, Action.SELL, "0.05", "bid", "0.9500"),
    ],
)
async def test_create_order_body_matches_spec_and_converts_no_prices(
    fake_time, auth, side, action, price, wire_side, wire_price
) -> None:
    rec = Recorder(CREATED)
    async with make_client(rec, fake_time, auth=auth) as client:
        req = order(side=side, action=action, price=D(price), count=D("2.5"))
        await client.create_order(req)
    request = rec.requests[0]
    assert (request.method, request.url.path) == ("POST", "/trade-api/v2/portfolio/events/orders")
    body = rec.bodies()[0]
    _check_against_spec(body, "create-order-v2.md", "CreateOrderV2Request")
    assert body["side"] == wire_side and body["price"] == wire_price and body["count"] == "2.50"
    assert body["time_in_force"] == "good_till_canceled"


async def test_other_mutation_shapes_match_spec(fake_time, auth) -> None:
    examples = {
        "amend": spec_schemas("amend-order-v2.md")["AmendOrderV2Response"]["example"],
        "decrease": spec_schemas("decrease-order-v2.md")["DecreaseOrderV2Response"]["example"],
        "cancel": spec_schemas("cancel-order-v2.md")["CancelOrderV2Response"]["example"],
        "bcreate": spec_schemas("batch-create-orders-v2.md")["BatchCreateOrdersV2Response"][
            "example"
        ],
        "bcancel": spec_schemas("batch-cancel-orders-v2.md")["BatchCancelOrdersV2Response"][
            "example"
        ],
    }

    def serve(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/amend"):
            return httpx.Response(200, json=examples["amend"])
        if path.endswith("/decrease"):
            return httpx.Response(200, json=examples["decrease"])
        if path.endswith("/batched"):
            key = "bcreate" if request.method == "POST" else "bcancel"
            return httpx.Response(201 if key == "bcreate" else 200, json=examples[key])
        if path.endswith("/order_groups/create"):
            return httpx.Response(201, json={"order_group_id": "g1", "subaccount": 0})
        return httpx.Response(200, json=examples["cancel"])

    rec = Recorder(serve)
    async with make_client(rec, fake_time, auth=auth) as client:
        amended = await client.amend_order(
            "o1", order(price=D("0.57")), total_count=D("8"), updated_client_order_id="c2"
        )
        decreased = await client.decrease_order("o1", reduce_by=D("2"))
        cancelled = await client.cancel_order("o1", ticker="KXHIGHNY-26JUL12-B88.5")
        created = await client.batch_create_orders(
            [order(), order(client_order_id="c2", side=OutcomeSide.NO, price=D("0.3"))]
        )
        bcancelled = await client.batch_cancel_orders(["o1", "o2"])
        group = await client.create_order_group(D("50"))
    assert amended.remaining == D("8.00") and decreased.remaining == D("8.00")
    assert cancelled.reduced_by == D("10.00") and len(created) == 2 and len(bcancelled) == 2
    assert group == "g1"
    amend, dec, cancel, bcreate, bcancel, grp = rec.requests
    bodies = rec.bodies()
    assert amend.url.path == "/trade-api/v2/portfolio/events/orders/o1/amend"
    _check_against_spec(bodies[0], "amend-order-v2.md", "AmendOrderV2Request")
    assert bodies[0]["count"] == "8.00" and bodies[0]["price"] == "0.5700"
    assert dec.url.path == "/trade-api/v2/portfolio/events/orders/o1/decrease"
    _check_against_spec(bodies[1], "decrease-order-v2.md", "DecreaseOrderV2Request")
    assert (cancel.method, cancel.url.path) == (
        "DELETE",
        "/trade-api/v2/portfolio/events/orders/o1",
    )
    assert cancel.url.params["market_ticker"] == "KXHIGHNY-26JUL12-B88.5"
    assert bcreate.method == "POST"
    _check_against_spec(bodies[3], "batch-create-orders-v2.md", "BatchCreateOrdersV2Request")
    assert [o["side"] for o in bodies[3]["orders"]] == ["bid", "ask"]
    assert bodies[3]["orders"][1]["price"] == "0.7000"
    assert bcancel.method == "DELETE"
    _check_against_spec(bodies[4], "batch-cancel-orders-v2.md", "BatchCancelOrdersV2Request")
    assert grp.url.path == "/trade-api/v2/portfolio/order_groups/create"
    _check_against_spec(bodies[5], "create-order-group.md", "CreateOrderGroupRequest")


def test_order_request_validation() -> None:
    with pytest.raises(ValueError):
        order(client_order_id="")
    with pytest.raises(ValueError):
        order(price=D("1.00"))
    with pytest.raises(ValueError):
        order(count=D("0"))
    assert order(time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL).time_in_force.value == (
        "immediate_or_cancel"
    )


async def test_sub_tick_values_are_refused_before_sending(fake_time, auth) -> None:
    rec = Recorder(CREATED)
    async with make_client(rec, fake_time, auth=auth) as client:
        with pytest.raises(ValueError):
            await client.create_order(order(price=D("0.42001")))
        with pytest.raises(ValueError):
            await client.create_order(order(count=D("1.001")))
    assert rec.requests == []


# --- read endpoints on recorded payloads ---


async def test_read_endpoints_paths_and_payloads(fake_time, auth) -> None:
    nested = load_payload("real-2026-08_market_nested_single_and_orderbook.json")
    routes: dict[str, Any] = {
        "/trade-api/v2/exchange/status": load_payload(
            "legacy-2026-01_exchange_status_response.json"
        ),
        "/trade-api/v2/exchange/schedule": load_payload(
            "legacy-2026-01_exchange_schedule_response.json"
        ),
        "/trade-api/v2/series/KXHIGHNY": load_payload("legacy-2026-01_series_single_response.json"),
        "/trade-api/v2/markets/KXNCAAFGAME-26SEP19MSUND-ND": nested["single"],
        "/trade-api/v2/markets/KXNCAAFGAME-26SEP19MSUND-ND/orderbook": nested["orderbook"],
        "/trade-api/v2/events/HIGHAUS-24AUG16": load_payload(
            "legacy-2024-08_GET-event_HIGHAUS-24AUG16.json"
        ),
        "/trade-api/v2/series/KXHIGHNY/markets/KXHIGHNY-26JUL10-T87/candlesticks": load_payload(
            "real-2026-07_GET-candlesticks_trimmed.json"
        ),
        "/trade-api/v2/portfolio/fills": load_payload(
            "real-2026-08_GET-portfolio-fills_redacted.json"
        ),
        "/trade-api/v2/portfolio/settlements": load_payload(
            "real-2026-08_GET-portfolio-settlements_redacted.json"
        ),
        "/trade-api/v2/historical/markets": load_payload(
            "real-2026-07_GET-markets_KXHIGHNY_settled_trimmed.json"
        ),
    }

    def serve(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        return httpx.Response(200, json=routes[request.url.path])

    rec = Recorder(serve)
    from datetime import UTC, datetime

    async with make_client(rec, fake_time, auth=auth) as client:
        assert (await client.get_exchange_status()).exchange_active
        sched = await client.get_exchange_schedule()
        assert any(w.weekday == "thursday" and w.close_time == "03:00" for w in sched.windows)
        assert (await client.get_series("KXHIGHNY")).ticker
        market = await client.get_market("KXNCAAFGAME-26SEP19MSUND-ND")
        book = await client.get_orderbook("KXNCAAFGAME-26SEP19MSUND-ND")
        assert book.best_yes_ask is not None and book.best_yes_ask.price == market.yes_ask
        event = await client.get_event("HIGHAUS-24AUG16")
        assert len(event.markets) == 6
        candles = await client.get_candlesticks(
            "KXHIGHNY",
            "KXHIGHNY-26JUL10-T87",
            datetime(2026, 7, 10, tzinfo=UTC),
            datetime(2026, 7, 11, tzinfo=UTC),
        )
        assert len(candles) == 3
        assert len(await client.get_fills(ticker="X")) == 33
        assert len(await client.get_settlements()) == 22
        assert {
            m.status for m in await client.get_historical_markets(series_ticker="KXHIGHNY")
        } == {"finalized"}
    by_path = {r.url.path: r for r in rec.requests}
    assert (
        by_path["/trade-api/v2/markets/KXNCAAFGAME-26SEP19MSUND-ND/orderbook"].url.params["depth"]
        == "0"
    )
    candle_req = by_path["/trade-api/v2/series/KXHIGHNY/markets/KXHIGHNY-26JUL10-T87/candlesticks"]
    assert candle_req.url.params["period_interval"] == "60"
    assert candle_req.url.params["start_ts"] == str(
        int(datetime(2026, 7, 10, tzinfo=UTC).timestamp())
    )
    assert by_path["/trade-api/v2/portfolio/fills"].url.params["ticker"] == "X"
    assert SIGNATURE_HEADER in by_path["/trade-api/v2/portfolio/fills"].headers


async def test_archived_market_falls_back_to_historical(fake_time) -> None:
    settled = load_payload("real-2026-07_GET-markets_KXHIGHNY_settled_trimmed.json")["markets"][0]

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/trade-api/v2/historical/markets/"):
            return httpx.Response(200, json={"market": settled})
        return httpx.Response(404, json={"code": "not_found", "message": "market not found"})

    rec = Recorder(serve)
    async with make_client(rec, fake_time) as client:
        market = await client.get_market_any(settled["ticker"])
    assert market.result == "no" and market.expiration_value == "85.00"
    assert [r.url.path for r in rec.requests] == [
        f"/trade-api/v2/markets/{settled['ticker']}",
        f"/trade-api/v2/historical/markets/{settled['ticker']}",
    ]


async def test_historical_cutoff(fake_time) -> None:
    # Shape per GetHistoricalCutoffResponse (3.28.0): RFC 3339 timestamps.
    body = {
        "market_settled_ts": "2026-05-01T00:00:00Z",
        "trades_created_ts": "2026-05-01T00:00:00Z",
        "orders_updated_ts": "2026-05-01T00:00:00Z",
    }
    rec = Recorder(httpx.Response(200, json=body))
    async with make_client(rec, fake_time) as client:
        cutoff = await client.get_historical_cutoff()
    assert cutoff.market_settled_ts.isoformat() == "2026-05-01T00:00:00+00:00"
    assert rec.requests[0].url.path == "/trade-api/v2/historical/cutoff"
