"""Async Kalshi Trade API v2 REST client.

Reads retry with jittered exponential backoff on 5xx, 429, timeouts and connection errors.
Order mutations (POST/PUT/DELETE under ``/portfolio``) are never retried blindly: once the
request may have reached Kalshi, a timeout, a lost connection or a 5xx raises
:class:`~milkbot.errors.OutcomeUnknownError`. Only a 429 (rejected unprocessed) or a failure
to connect is retried. A caller may ask for a resend with the *same* ``client_order_id``
(``resend_unknown=True``) where Kalshi deduplicates by it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from milkbot.clock import Clock, SystemClock
from milkbot.domain.market import (
    Candlestick,
    Event,
    ExchangeSchedule,
    ExchangeStatus,
    HistoricalCutoff,
    Market,
    OrderBookSnapshot,
    Series,
    Trade,
)
from milkbot.domain.portfolio import (
    Balance,
    FillReport,
    OrderAck,
    OrderGroupReport,
    OrderReport,
    OrderRequest,
    PositionReport,
    SettlementReport,
)
from milkbot.errors import (
    ConfigError,
    OutcomeUnknownError,
    ParseError,
    TransientUpstreamError,
    UpstreamError,
)
from milkbot.logging import get_logger
from milkbot.venues.kalshi import parsing
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.ratelimit import CANCEL_COST, DEFAULT_COST, RateLimits, TokenBucket

T = TypeVar("T")
PageParser = Callable[[Any], tuple[list[T], str | None]]

PROD_BASE_URL = "https://external-api.kalshi.com/trade-api/v2"
DEMO_BASE_URL = "https://external-api.demo.kalshi.co/trade-api/v2"
PRICE_QUANTUM = Decimal("0.0001")
COUNT_QUANTUM = Decimal("0.01")

_log = get_logger(__name__)


class KalshiRejection(UpstreamError):
    """Kalshi refused a request (4xx other than 429). Not retryable as is.

    Attributes
    ----------
    status : int
        HTTP status.
    code : str
        Kalshi's error ``code`` (``"http_<status>"`` when the body has none).
    """

    def __init__(self, status: int, code: str, message: str = "", details: str = "") -> None:
        text = f"HTTP {status} {code}: {message}" + (f" ({details})" if details else "")
        super().__init__(text)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def format_price(price: Decimal) -> str:
    """Fixed-point dollar string for a request (4 dp); refuse sub-0.0001 prices."""
    if price != price.quantize(PRICE_QUANTUM):
        raise ValueError(f"price {price} has more than 4 decimal places")
    return f"{price.quantize(PRICE_QUANTUM)}"


def format_count(count: Decimal) -> str:
    """Fixed-point count string for a request (2 dp); refuse sub-0.01 counts."""
    if count != count.quantize(COUNT_QUANTUM):
        raise ValueError(f"count {count} has more than 2 decimal places")
    return f"{count.quantize(COUNT_QUANTUM)}"


def order_body(req: OrderRequest) -> dict[str, Any]:
    """The V2 create-order JSON body of an order request."""
    book_side, yes_price = req.book
    body: dict[str, Any] = {
        "ticker": req.ticker,
        "client_order_id": req.client_order_id,
        "side": book_side.value,
        "count": format_count(req.count),
        "price": format_price(yes_price),
        "time_in_force": req.time_in_force.value,
        "self_trade_prevention_type": req.self_trade_prevention,
        "post_only": req.post_only,
        "reduce_only": req.reduce_only,
        "cancel_order_on_pause": req.cancel_order_on_pause,
    }
    if req.expiration_ts is not None:
        body["expiration_time"] = req.expiration_ts
    if req.order_group_id is not None:
        body["order_group_id"] = req.order_group_id
    return body


def _ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, list | tuple):
            out[k] = ",".join(str(x) for x in v)
        else:
            out[k] = v
    return out


class KalshiClient:
    """Typed async client of the Kalshi Trade API v2.

    Parameters
    ----------
    base_url : str
        REST root including ``/trade-api/v2``.
    auth : KalshiAuth | None
        Signs requests; public market data works without it.
    transport : httpx.AsyncBaseTransport | None
        Injected transport (tests use ``httpx.MockTransport``).
    clock : Clock | None
        Time source of the rate limiter.
    random_fn : Callable[[], float] | None
        Uniform [0, 1) source for backoff jitter.
    rate_limits : RateLimits
        Token rates of the read and write buckets.
    timeout : float
        Per-request timeout in seconds.
    max_retries : int
        Retries of a retryable failure before giving up.
    sleep : Callable[[float], Awaitable[None]] | None
        Awaitable sleep (tests inject one that advances a fake clock).
    """

    def __init__(
        self,
        base_url: str = PROD_BASE_URL,
        *,
        auth: KalshiAuth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        random_fn: Callable[[], float] | None = None,
        rate_limits: RateLimits | None = None,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self._clock = clock or SystemClock()
        self._random = random_fn or random.random
        self._sleep = sleep or asyncio.sleep
        limits = rate_limits or RateLimits()
        self._read = TokenBucket(
            limits.read_per_second,
            limits.read_per_second * limits.read_burst_seconds,
            self._clock,
        )
        self._write = TokenBucket(
            limits.write_per_second,
            limits.write_per_second * limits.write_burst_seconds,
            self._clock,
        )
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
            auth=auth,
        )

    async def __aenter__(self) -> KalshiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    @property
    def authenticated(self) -> bool:
        """Whether requests are signed."""
        return self._auth is not None

    # --- transport ---------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return float(self._random()) * min(
            self._backoff_cap, self._backoff_base * float(1 << attempt)
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        cost: int = DEFAULT_COST,
        resend_unknown: bool = False,
    ) -> Any:
        """Send one API request and return the decoded JSON body.

        Raises
        ------
        KalshiRejection
            4xx other than 429.
        TransientUpstreamError
            Retries exhausted on 5xx/429/timeouts (reads), or 429/connect failures (writes).
        OutcomeUnknownError
            A mutation may have reached Kalshi but no answer came back.
        """
        method = method.upper()
        mutating = method != "GET"
        if path.lstrip("/").startswith("portfolio") and self._auth is None:
            raise ConfigError(f"{method} /{path.lstrip('/')} needs a Kalshi API key")
        bucket = self._write if mutating else self._read
        if cost > bucket.capacity:
            raise ConfigError(f"request cost {cost} exceeds the rate bucket ({bucket.capacity})")
        rel = path.lstrip("/")
        clean = _clean(params or {})
        last: Exception | None = None
        maybe_sent = False  # a mutation may have reached Kalshi on some attempt
        for attempt in range(self._max_retries + 1):
            if attempt:
                await self._sleep(self._backoff(attempt - 1))
            await bucket.acquire(cost, self._sleep)
            try:
                resp = await self._http.request(method, rel, params=clean or None, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last = exc  # never sent: safe to retry anything
                _log.warning("kalshi.connect_failed", method=method, path=rel, error=str(exc))
                continue
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if mutating and not resend_unknown:
                    raise OutcomeUnknownError(
                        f"{method} /{rel}: {type(exc).__name__} after send; outcome unknown"
                    ) from exc
                maybe_sent = True
                last = exc
                _log.warning("kalshi.transport_error", method=method, path=rel, error=str(exc))
                continue
            status = resp.status_code
            if status == 429:
                last = TransientUpstreamError(f"{method} /{rel}: 429 too many requests")
                continue
            if status >= 500:
                if mutating and not resend_unknown:
                    raise OutcomeUnknownError(f"{method} /{rel}: HTTP {status}; outcome unknown")
                maybe_sent = True
                last = TransientUpstreamError(f"{method} /{rel}: HTTP {status}")
                continue
            if status >= 400:
                raise self._rejection(resp)
            if not resp.content:
                return {}
            try:
                return resp.json()
            except ValueError:
                raise ParseError(f"{method} /{rel}: response is not JSON") from None
        if mutating and maybe_sent:
            raise OutcomeUnknownError(f"{method} /{rel}: retries exhausted; outcome unknown")
        raise TransientUpstreamError(f"{method} /{rel}: gave up after retries: {last}")

    @staticmethod
    def _rejection(resp: httpx.Response) -> KalshiRejection:
        code, message, details = f"http_{resp.status_code}", "", ""
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            err = body.get("error", body)
            if isinstance(err, dict):
                code = str(err.get("code") or code)
                message = str(err.get("message") or "")
                details = str(err.get("details") or "")
            elif isinstance(err, str):
                message = err
        return KalshiRejection(resp.status_code, code, message, details)

    async def _pages(
        self,
        path: str,
        params: dict[str, Any],
        parse: PageParser[T],
        *,
        max_pages: int = 10_000,
    ) -> list[T]:
        """Follow ``cursor`` to the end, resending identical filters on every page."""
        out: list[T] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = cursor
            items, cursor = parse(await self.request("GET", path, params=page_params))
            out.extend(items)
            if not cursor:
                return out
            if cursor in seen:
                raise ParseError(f"GET {path}: cursor {cursor!r} repeated")
            seen.add(cursor)
        raise ParseError(f"GET {path}: more than {max_pages} pages")

    # --- exchange --------------------------------------------------------------------------

    async def get_exchange_status(self) -> ExchangeStatus:
        """``GET /exchange/status``."""
        return parsing.exchange_status(await self.request("GET", "/exchange/status"))

    async def get_exchange_schedule(self) -> ExchangeSchedule:
        """``GET /exchange/schedule`` (standard hours valid now)."""
        payload = await self.request("GET", "/exchange/schedule")
        return parsing.exchange_schedule(payload, self._clock.now())

    async def get_historical_cutoff(self) -> HistoricalCutoff:
        """``GET /historical/cutoff``."""
        return parsing.historical_cutoff(await self.request("GET", "/historical/cutoff"))

    # --- market data ---------------------------------------------------------------------------

    async def get_series(self, series_ticker: str) -> Series:
        """``GET /series/{ticker}`` with its fee model."""
        payload = await self.request("GET", f"/series/{series_ticker}")
        if not isinstance(payload, dict) or "series" not in payload:
            raise ParseError("series response lacks 'series'")
        return parsing.series(payload["series"])

    async def list_series(
        self, *, category: str | None = None, tags: str | None = None
    ) -> list[Series]:
        """``GET /series`` filtered by category/tags."""
        payload = await self.request("GET", "/series", params={"category": category, "tags": tags})
        if not isinstance(payload, dict):
            raise ParseError("series list is not an object")
        return [parsing.series(s) for s in payload.get("series") or ()]

    async def get_events(
        self,
        *,
        series_ticker: str | None = None,
        status: str | None = None,
        with_nested_markets: bool = False,
        min_close_ts: datetime | None = None,
        limit: int = 200,
    ) -> list[Event]:
        """All events matching the filters (``GET /events``, every page)."""
        params = {
            "series_ticker": series_ticker,
            "status": status,
            "with_nested_markets": with_nested_markets or None,
            "min_close_ts": _ts(min_close_ts),
            "limit": limit,
        }
        return await self._pages("/events", params, parsing.events_page)

    async def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> Event:
        """``GET /events/{ticker}`` with its markets."""
        params = {"with_nested_markets": with_nested_markets or None}
        return parsing.event(await self.request("GET", f"/events/{event_ticker}", params=params))

    async def get_markets(
        self,
        *,
        series_ticker: str | None = None,
        event_ticker: str | None = None,
        tickers: Sequence[str] | None = None,
        status: str | None = None,
        min_close_ts: datetime | None = None,
        max_close_ts: datetime | None = None,
        limit: int = 1000,
    ) -> list[Market]:
        """All markets matching the filters (``GET /markets``, every page).

        ``status`` is a filter value: ``unopened``, ``open``, ``paused``, ``closed``,
        ``settled``.
        """
        params = {
            "series_ticker": series_ticker,
            "event_ticker": event_ticker,
            "tickers": list(tickers) if tickers else None,
            "status": status,
            "min_close_ts": _ts(min_close_ts),
            "max_close_ts": _ts(max_close_ts),
            "limit": limit,
        }
        return await self._pages("/markets", params, parsing.markets_page)

    async def get_market(self, ticker: str) -> Market:
        """``GET /markets/{ticker}``."""
        payload = await self.request("GET", f"/markets/{ticker}")
        if not isinstance(payload, dict) or "market" not in payload:
            raise ParseError("market response lacks 'market'")
        return parsing.market(payload["market"])

    async def get_orderbook(self, ticker: str, depth: int = 0) -> OrderBookSnapshot:
        """``GET /markets/{ticker}/orderbook`` (depth 0 = all levels)."""
        payload = await self.request("GET", f"/markets/{ticker}/orderbook", params={"depth": depth})
        book = parsing.orderbook(ticker, payload)
        return OrderBookSnapshot(book.ticker, book.yes_bids, book.no_bids, self._clock.now())

    async def get_trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: datetime | None = None,
        max_ts: datetime | None = None,
        limit: int = 1000,
    ) -> list[Trade]:
        """Public trades (``GET /markets/trades``, every page)."""
        params = {"ticker": ticker, "min_ts": _ts(min_ts), "max_ts": _ts(max_ts), "limit": limit}
        return await self._pages("/markets/trades", params, parsing.trades_page)

    async def get_candlesticks(
        self,
        series_ticker: str,
        ticker: str,
        start: datetime,
        end: datetime,
        period_minutes: int = 60,
    ) -> list[Candlestick]:
        """``GET /series/{s}/markets/{t}/candlesticks`` (period 1, 60 or 1440 minutes)."""
        params = {"start_ts": _ts(start), "end_ts": _ts(end), "period_interval": period_minutes}
        path = f"/series/{series_ticker}/markets/{ticker}/candlesticks"
        return parsing.candlesticks(await self.request("GET", path, params=params))

    # --- historical ----------------------------------------------------------------------------

    async def get_historical_markets(
        self,
        *,
        series_ticker: str | None = None,
        event_ticker: str | None = None,
        tickers: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[Market]:
        """Markets settled before the historical cutoff (``GET /historical/markets``)."""
        params = {
            "series_ticker": series_ticker,
            "event_ticker": event_ticker,
            "tickers": list(tickers) if tickers else None,
            "limit": limit,
        }
        return await self._pages("/historical/markets", params, parsing.markets_page)

    async def get_historical_market(self, ticker: str) -> Market:
        """``GET /historical/markets/{ticker}``."""
        payload = await self.request("GET", f"/historical/markets/{ticker}")
        if not isinstance(payload, dict) or "market" not in payload:
            raise ParseError("historical market response lacks 'market'")
        return parsing.market(payload["market"])

    async def get_market_any(self, ticker: str) -> Market:
        """A market from the live endpoint, or from ``/historical`` once it was archived.

        Markets settled before the historical cutoff are only served under
        ``/historical/markets``; the live endpoint answers 404 for them.
        """
        try:
            return await self.get_market(ticker)
        except KalshiRejection as exc:
            if exc.status != 404:
                raise
        return await self.get_historical_market(ticker)

    async def get_historical_candlesticks(
        self, ticker: str, start: datetime, end: datetime, period_minutes: int = 60
    ) -> list[Candlestick]:
        """``GET /historical/markets/{ticker}/candlesticks``."""
        params = {"start_ts": _ts(start), "end_ts": _ts(end), "period_interval": period_minutes}
        path = f"/historical/markets/{ticker}/candlesticks"
        return parsing.candlesticks(await self.request("GET", path, params=params))

    async def get_historical_trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: datetime | None = None,
        max_ts: datetime | None = None,
    ) -> list[Trade]:
        """``GET /historical/trades``."""
        params = {"ticker": ticker, "min_ts": _ts(min_ts), "max_ts": _ts(max_ts), "limit": 1000}
        return await self._pages("/historical/trades", params, parsing.trades_page)

    async def get_historical_fills(self, *, ticker: str | None = None) -> list[FillReport]:
        """``GET /historical/fills`` (signed)."""
        params = {"ticker": ticker, "limit": 1000}
        return await self._pages("/historical/fills", params, parsing.fills_page)

    async def get_historical_orders(self, *, ticker: str | None = None) -> list[OrderReport]:
        """``GET /historical/orders`` (signed)."""
        params = {"ticker": ticker, "limit": 1000}
        return await self._pages("/historical/orders", params, parsing.orders_page)

    # --- orders (V2) ---------------------------------------------------------------------------

    async def create_order(self, req: OrderRequest, *, resend_unknown: bool = False) -> OrderAck:
        """Place a limit order (``POST /portfolio/events/orders``).

        ``resend_unknown`` resends the identical body (same ``client_order_id``) after an
        ambiguous failure instead of raising :class:`OutcomeUnknownError` at once.
        """
        payload = await self.request(
            "POST", "/portfolio/events/orders", json=order_body(req), resend_unknown=resend_unknown
        )
        return parsing.create_ack(payload)

    async def cancel_order(self, order_id: str, *, ticker: str | None = None) -> OrderAck:
        """Cancel the rest of an order (``DELETE /portfolio/events/orders/{id}``)."""
        payload = await self.request(
            "DELETE",
            f"/portfolio/events/orders/{order_id}",
            params={"market_ticker": ticker},
            cost=CANCEL_COST,
        )
        return parsing.cancel_ack(payload)

    async def amend_order(
        self,
        order_id: str,
        req: OrderRequest,
        *,
        total_count: Decimal,
        updated_client_order_id: str | None = None,
    ) -> OrderAck:
        """Change price and/or size (``POST .../{id}/amend``); ``total_count`` = filled + rest."""
        book_side, yes_price = req.book
        body: dict[str, Any] = {
            "ticker": req.ticker,
            "side": book_side.value,
            "price": format_price(yes_price),
            "count": format_count(total_count),
            "client_order_id": req.client_order_id,
        }
        if updated_client_order_id:
            body["updated_client_order_id"] = updated_client_order_id
        payload = await self.request(
            "POST", f"/portfolio/events/orders/{order_id}/amend", json=body
        )
        return parsing.amend_ack(payload)

    async def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: Decimal | None = None,
        reduce_to: Decimal | None = None,
    ) -> OrderAck:
        """Shrink an order (``POST .../{id}/decrease``), exactly one of reduce_by/reduce_to."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("give exactly one of reduce_by or reduce_to")
        body = (
            {"reduce_by": format_count(reduce_by)}
            if reduce_by is not None
            else {"reduce_to": format_count(reduce_to)}  # type: ignore[arg-type]
        )
        payload = await self.request(
            "POST", f"/portfolio/events/orders/{order_id}/decrease", json=body
        )
        return parsing.decrease_ack(payload)

    async def batch_create_orders(self, reqs: Sequence[OrderRequest]) -> list[OrderAck]:
        """Place several orders in one request; failed items have ``error_code`` set."""
        if not reqs:
            return []
        payload = await self.request(
            "POST",
            "/portfolio/events/orders/batched",
            json={"orders": [order_body(r) for r in reqs]},
            cost=DEFAULT_COST * len(reqs),
        )
        return parsing.batch_create_acks(payload, self._clock.now())

    async def batch_cancel_orders(self, order_ids: Sequence[str]) -> list[OrderAck]:
        """Cancel several orders in one request."""
        if not order_ids:
            return []
        payload = await self.request(
            "DELETE",
            "/portfolio/events/orders/batched",
            json={"orders": [{"order_id": oid} for oid in order_ids]},
            cost=CANCEL_COST * len(order_ids),
        )
        return parsing.batch_cancel_acks(payload, self._clock.now())

    # --- portfolio reads -------------------------------------------------------------------------

    async def get_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ts: datetime | None = None,
    ) -> list[OrderReport]:
        """Our orders (``GET /portfolio/orders``, every page)."""
        params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "status": status,
            "min_ts": _ts(min_ts),
            "limit": 1000,
        }
        return await self._pages("/portfolio/orders", params, parsing.orders_page)

    async def get_order(self, order_id: str) -> OrderReport:
        """``GET /portfolio/orders/{id}``."""
        payload = await self.request("GET", f"/portfolio/orders/{order_id}", cost=CANCEL_COST)
        if not isinstance(payload, dict) or "order" not in payload:
            raise ParseError("order response lacks 'order'")
        return parsing.order(payload["order"])

    async def get_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: datetime | None = None,
        max_ts: datetime | None = None,
    ) -> list[FillReport]:
        """Our fills (``GET /portfolio/fills``, every page)."""
        params = {
            "ticker": ticker,
            "order_id": order_id,
            "min_ts": _ts(min_ts),
            "max_ts": _ts(max_ts),
            "limit": 1000,
        }
        return await self._pages("/portfolio/fills", params, parsing.fills_page)

    async def get_positions(
        self, *, ticker: str | None = None, event_ticker: str | None = None
    ) -> list[PositionReport]:
        """Unsettled market positions (``GET /portfolio/positions``, every page)."""
        params = {"ticker": ticker, "event_ticker": event_ticker, "limit": 1000}
        return await self._pages("/portfolio/positions", params, parsing.positions_page)

    async def get_balance(self) -> Balance:
        """``GET /portfolio/balance``."""
        return parsing.balance(await self.request("GET", "/portfolio/balance"))

    async def get_settlements(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ts: datetime | None = None,
    ) -> list[SettlementReport]:
        """Settled positions (``GET /portfolio/settlements``, every page)."""
        params = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "min_ts": _ts(min_ts),
            "limit": 1000,
        }
        return await self._pages("/portfolio/settlements", params, parsing.settlements_page)

    # --- order groups --------------------------------------------------------------------------

    async def create_order_group(self, contracts_limit: Decimal) -> str:
        """Create an order group; return its id."""
        payload = await self.request(
            "POST",
            "/portfolio/order_groups/create",
            json={"contracts_limit_fp": format_count(contracts_limit)},
        )
        if not isinstance(payload, dict) or not payload.get("order_group_id"):
            raise ParseError("create order group response lacks 'order_group_id'")
        return str(payload["order_group_id"])

    async def get_order_groups(self) -> list[OrderGroupReport]:
        """``GET /portfolio/order_groups``."""
        return parsing.order_groups(await self.request("GET", "/portfolio/order_groups"))

    async def get_order_group(self, order_group_id: str) -> OrderGroupReport:
        """``GET /portfolio/order_groups/{id}``."""
        payload = await self.request("GET", f"/portfolio/order_groups/{order_group_id}")
        return parsing.order_group(order_group_id, payload)

    async def delete_order_group(self, order_group_id: str) -> None:
        """Delete an order group (cancels its orders)."""
        await self.request("DELETE", f"/portfolio/order_groups/{order_group_id}")

    async def reset_order_group(self, order_group_id: str) -> None:
        """Reset the group's matched-contracts counter."""
        await self.request("PUT", f"/portfolio/order_groups/{order_group_id}/reset")

    async def trigger_order_group(self, order_group_id: str) -> None:
        """Trigger the group: cancel all its orders now."""
        await self.request("PUT", f"/portfolio/order_groups/{order_group_id}/trigger")

    async def update_order_group_limit(self, order_group_id: str, contracts_limit: Decimal) -> None:
        """Change the group's rolling contract limit."""
        await self.request(
            "PUT",
            f"/portfolio/order_groups/{order_group_id}/limit",
            json={"contracts_limit_fp": format_count(contracts_limit)},
        )
