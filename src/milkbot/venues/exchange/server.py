"""The local exchange's HTTP and WebSocket server (Starlette), Kalshi's wire subset.

REST under ``/trade-api/v2``, WebSocket at ``/trade-api/ws/v2``, plus ``GET /health`` with
the simulated clock. Portfolio endpoints and the WebSocket handshake require Kalshi's
signed headers: ``KALSHI-ACCESS-SIGNATURE`` is RSA-PSS (SHA-256, MGF1 SHA-256, salt =
digest length) over ``timestamp + METHOD + path`` (no query), verified against the public
key registered for ``KALSHI-ACCESS-KEY``. Each key id is one account.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from milkbot.clock import Clock
from milkbot.datasets import Dataset
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import TimeInForce
from milkbot.errors import ConfigError
from milkbot.logging import get_logger
from milkbot.venues.exchange import wire
from milkbot.venues.exchange.faults import FaultConfig, FaultInjector
from milkbot.venues.exchange.matching import (
    ZERO,
    BookChange,
    Engine,
    Event,
    Fill,
    MarketStatus,
    Order,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    PositionUpdate,
    SelfTradePrevention,
    Trade,
)
from milkbot.venues.exchange.replay import MarketInfo, TapeReplay, market_infos

API = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
_log = get_logger(__name__)
Handler = Callable[[Request], Awaitable[Response]]


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """Parse a PEM RSA public key (or derive it from a PEM private key)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(pem, password=None).public_key()
        except (ValueError, TypeError) as e:
            raise ConfigError(f"not a PEM RSA key: {e}") from e
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError("only RSA keys are supported")
    return key


def verify_signature(
    key: rsa.RSAPublicKey, timestamp: str, method: str, path: str, signature: str
) -> bool:
    """Check a Kalshi request signature over ``timestamp + METHOD + path``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(
            raw,
            f"{timestamp}{method.upper()}{path}".encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class KeyRegistry:
    """Registered public keys by key id; keys under ``"*"`` accept any key id.

    ``anonymous_ws`` lets an unsigned WebSocket handshake through for the public channels
    only (a keyless demo); Kalshi itself requires a signed handshake.
    """

    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    max_skew_seconds: float | None = None
    anonymous_ws: bool = False

    def authenticate(self, headers: Any, method: str, path: str) -> str | None:
        """Return the key id (account) if the signed headers verify, else None."""
        key_id = headers.get("kalshi-access-key")
        ts = headers.get("kalshi-access-timestamp")
        sig = headers.get("kalshi-access-signature")
        if not key_id or not ts or not sig:
            return None
        if self.max_skew_seconds is not None:
            try:
                skew = abs(time.time() - int(ts) / 1000)
            except ValueError:
                return None
            if skew > self.max_skew_seconds:
                return None
        key = self.keys.get(key_id) or self.keys.get("*")
        if key is None or not verify_signature(key, ts, method, path, sig):
            return None
        return str(key_id)


@dataclass
class Subscription:
    """One WebSocket subscription: a channel, optional market filter and its seq counter."""

    sid: int
    channel: str
    tickers: set[str] | None
    use_yes_price: bool = False
    seq: int = 0

    def wants(self, ticker: str) -> bool:
        """Whether a message about ``ticker`` belongs to this subscription."""
        return self.tickers is None or ticker in self.tickers


class Connection:
    """An authenticated WebSocket client: its subscriptions and outgoing queue.

    A message held back by the reorder fault goes out after the next message or at the
    next replay tick, whichever comes first.
    """

    def __init__(self, websocket: WebSocket, user_id: str, faults: FaultInjector) -> None:
        self.websocket = websocket
        self.user_id = user_id
        self.faults = faults
        self.subs: dict[int, Subscription] = {}
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._held: str | None = None
        self.closed = False

    def flush(self) -> None:
        """Send a message held back by the reorder fault."""
        if self._held is not None and not self.closed:
            self.queue.put_nowait(self._held)
        self._held = None

    def send_control(self, frame: dict[str, Any]) -> None:
        """Queue a command response (never subject to faults)."""
        self.queue.put_nowait(json.dumps(frame))

    def send_data(self, sub: Subscription, kind: str, msg: dict[str, Any], *, seq: bool) -> None:
        """Queue a data message, applying the configured WebSocket faults."""
        if self.closed:
            return
        frame: dict[str, Any] = {"type": kind, "sid": sub.sid}
        if seq:
            sub.seq += 1
            if self.faults.ws_seq_gap():
                return
            frame["seq"] = sub.seq
        frame["msg"] = msg
        if self.faults.ws_drop():
            self.closed = True
            self.queue.put_nowait(None)
            return
        text = json.dumps(frame)
        copies = 2 if self.faults.ws_duplicate() else 1
        if self._held is None and self.faults.ws_reorder():
            self._held = text
            return
        for _ in range(copies):
            self.queue.put_nowait(text)
        if self._held is not None:
            self.queue.put_nowait(self._held)
            self._held = None


PRIVATE = {"fill", "user_orders", "market_positions"}
ANONYMOUS = ""  # user id of an unsigned WebSocket connection (public channels only)
PUBLIC = {"orderbook_delta", "ticker", "trade"}


class ExchangeState:
    """Everything the server serves: engine, market metadata, replay, keys, faults, clients."""

    def __init__(
        self,
        engine: Engine,
        infos: dict[str, MarketInfo],
        *,
        keys: KeyRegistry,
        replay: TapeReplay | None = None,
        faults: FaultConfig | None = None,
        initial_balance: Decimal = Decimal(1000),
    ) -> None:
        self.engine = engine
        self.infos = infos
        self.replay = replay
        self.keys = keys
        self.faults = FaultInjector(faults or FaultConfig())
        self.initial_balance = initial_balance
        self.connections: set[Connection] = set()
        rng = random.Random(1)
        self.market_ids = {t: _uuid(rng) for t in infos}

    @property
    def clock(self) -> Clock:
        """The simulated clock the engine runs on."""
        return self.engine.clock

    def account(self, user_id: str) -> None:
        """Open the user's account with the initial balance on first use."""
        self.engine.open_account(user_id, self.initial_balance)

    def tick(self) -> None:
        """Advance the replay to the clock's time and publish what happened."""
        for conn in list(self.connections):
            conn.flush()
        if self.replay is not None:
            self.publish(self.replay.advance(self.clock.now()))
        else:
            self.publish(self.engine.expire_orders())

    # ---- WebSocket fan-out -----------------------------------------------------------
    def publish(self, events: list[Event] | tuple[Event, ...]) -> None:
        """Send engine events to every matching subscription."""
        if not events or not self.connections:
            return
        touched: list[str] = []
        for event in events:
            if isinstance(event, BookChange):
                self._fan("orderbook_delta", event.ticker, None, event)
                if event.ticker not in touched:
                    touched.append(event.ticker)
            elif isinstance(event, Trade):
                self._fan("trade", event.ticker, None, event)
            elif isinstance(event, Fill):
                self._fan("fill", event.ticker, event.user_id, event)
            elif isinstance(event, OrderUpdate):
                self._fan("user_orders", event.order.ticker, event.order.user_id, event)
            elif isinstance(event, PositionUpdate):
                self._fan("market_positions", event.ticker, event.user_id, event)
        now = self.clock.now()
        for ticker in touched:
            market = self.engine.markets[ticker]
            msg = wire.ticker_msg(market, self.market_ids.get(ticker, ""), now)
            for conn in list(self.connections):
                for sub in list(conn.subs.values()):
                    if sub.channel == "ticker" and sub.wants(ticker):
                        conn.send_data(sub, "ticker", msg, seq=False)

    def _fan(self, channel: str, ticker: str, owner: str | None, event: Event) -> None:
        for conn in list(self.connections):
            if owner is not None and conn.user_id != owner:
                continue
            for sub in list(conn.subs.values()):
                if sub.channel != channel or not sub.wants(ticker):
                    continue
                if isinstance(event, BookChange):
                    msg = wire.book_delta_msg(
                        event, self.market_ids.get(ticker, ""), sub.use_yes_price
                    )
                    if event.user_id == conn.user_id:
                        msg["client_order_id"] = event.client_order_id
                    conn.send_data(sub, "orderbook_delta", msg, seq=True)
                elif isinstance(event, Trade):
                    conn.send_data(sub, "trade", wire.trade_msg(event), seq=False)
                elif isinstance(event, Fill):
                    conn.send_data(sub, "fill", wire.fill_msg(event), seq=False)
                elif isinstance(event, OrderUpdate):
                    conn.send_data(sub, "user_order", wire.user_order_msg(event.order), seq=False)
                elif isinstance(event, PositionUpdate):
                    msg = wire.position_msg(event.user_id, event.ticker, event.position)
                    conn.send_data(sub, "market_position", msg, seq=False)


def _uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build_state(
    dataset: Dataset,
    clock: Clock,
    *,
    keys: KeyRegistry,
    faults: FaultConfig | None = None,
    initial_balance: Decimal = Decimal(1000),
    replay: bool = True,
    seed: int = 0,
) -> ExchangeState:
    """Build the exchange for a dataset: markets from ``markets``, flow from the tape."""
    engine = Engine(clock, random.Random(seed))
    infos = market_infos(dataset)
    tape = TapeReplay(engine, dataset) if replay else None
    if tape is None:
        from milkbot.domain.fees import FeeModel

        now = clock.now()
        for info in infos.values():
            engine.add_market(info.ticker, info.event_ticker, info.series_ticker, FeeModel())
            if info.close_time is not None and info.close_time <= now:
                engine.close_market(info.ticker)
    return ExchangeState(
        engine, infos, keys=keys, replay=tape, faults=faults, initial_balance=initial_balance
    )


# ---- HTTP helpers ---------------------------------------------------------------------
def error(status: int, code: str, message: str) -> JSONResponse:
    """Kalshi's error envelope ``{"code", "message", "details"}``."""
    return JSONResponse({"code": code, "message": message, "details": ""}, status_code=status)


def _dec(body: dict[str, Any], name: str, required: bool = True) -> Decimal | None:
    value = body.get(name)
    if value is None:
        if required:
            raise OrderRejected("invalid_parameters", f"missing {name}")
        return None
    if not isinstance(value, str | int):
        raise OrderRejected("invalid_parameters", f"{name} must be a fixed-point string")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise OrderRejected("invalid_parameters", f"bad {name} {value!r}") from None
    if not out.is_finite():
        raise OrderRejected("invalid_parameters", f"bad {name} {value!r}")
    return out


def _page(
    items: list[Any], request: Request, default: int = 100, cap: int = 1000
) -> tuple[list[Any], str]:
    try:
        limit = int(request.query_params.get("limit", default))
        start = int(request.query_params.get("cursor") or 0)
    except ValueError:
        raise OrderRejected("invalid_parameters", "bad limit or cursor") from None
    limit = max(1, min(limit, cap))
    chunk = items[start : start + limit]
    cursor = str(start + limit) if start + limit < len(items) else ""
    return chunk, cursor


def _ts_filter(request: Request, ts: datetime) -> bool:
    q = request.query_params
    t = ts.timestamp()
    if "min_ts" in q and t < int(q["min_ts"]):
        return False
    return not ("max_ts" in q and t > int(q["max_ts"]))


def _close_filter(q: Any, close_time: datetime | None) -> bool:
    """Apply ``min_close_ts``/``max_close_ts`` (Unix seconds) to a close time."""
    if "min_close_ts" not in q and "max_close_ts" not in q:
        return True
    if close_time is None:
        return False
    t = close_time.timestamp()
    if "min_close_ts" in q and t < int(q["min_close_ts"]):
        return False
    return not ("max_close_ts" in q and t > int(q["max_close_ts"]))


_MUTATIONS = {"POST", "PUT", "DELETE"}
_STATUS_FILTER = {
    "unopened": {MarketStatus.INITIALIZED},
    "open": {MarketStatus.ACTIVE},
    "closed": {MarketStatus.CLOSED},
    "settled": {MarketStatus.FINALIZED},
}


class ExchangeApp:
    """Route handlers bound to one :class:`ExchangeState`."""

    def __init__(self, state: ExchangeState) -> None:
        self.state = state

    # ---- plumbing ---------------------------------------------------------------------
    def public(self, handler: Handler) -> Handler:
        """Wrap a public handler with faults and error mapping."""
        return self._wrap(handler, signed=False)

    def private(self, handler: Handler) -> Handler:
        """Wrap a signed portfolio handler with auth, faults and error mapping."""
        return self._wrap(handler, signed=True)

    def _wrap(self, handler: Handler, *, signed: bool) -> Handler:
        state = self.state

        async def run(request: Request) -> Response:
            faults = state.faults
            delay = faults.latency_seconds()
            if delay:
                await asyncio.sleep(delay)
            if signed:
                user = state.keys.authenticate(request.headers, request.method, request.url.path)
                if user is None:
                    return error(401, "authentication_error", "missing or invalid signature")
                request.state.user = user
                state.account(user)
            failure = faults.http_error()
            if failure == 429:
                return JSONResponse({"error": "too many requests"}, status_code=429)
            if failure is not None:
                return error(failure, "service_unavailable", "injected server error")
            try:
                response = await handler(request)
            except OrderRejected as e:
                return error(e.status, e.code, e.message)
            except (ValueError, KeyError, TypeError) as e:
                return error(400, "invalid_parameters", str(e))
            if (
                request.method in _MUTATIONS
                and response.status_code < 300
                and faults.lose_response()
            ):
                return error(504, "gateway_timeout", "injected lost response")
            return response

        return run

    async def body(self, request: Request) -> dict[str, Any]:
        """The JSON object body, or a 400 rejection."""
        try:
            data = await request.json()
        except json.JSONDecodeError:
            raise OrderRejected("invalid_parameters", "body is not JSON") from None
        if not isinstance(data, dict):
            raise OrderRejected("invalid_parameters", "body must be a JSON object")
        return data

    # ---- exchange / health -------------------------------------------------------------
    async def health(self, _request: Request) -> Response:
        """Health of the simulation, with the simulated time."""
        now = self.state.clock.now()
        replay = self.state.replay
        return JSONResponse(
            {
                "status": "ok",
                "sim_time": wire.iso(now),
                "sim_ts_ms": wire.ms(now),
                "markets": len(self.state.engine.markets),
                "prints_replayed": replay.prints_replayed if replay else 0,
                "replay_done": replay is None or replay.next_time is None,
            }
        )

    async def exchange_status(self, _request: Request) -> Response:
        """``GET /exchange/status``."""
        return JSONResponse(
            {
                "exchange_active": True,
                "trading_active": True,
                "exchange_estimated_resume_time": None,
            }
        )

    async def exchange_schedule(self, _request: Request) -> Response:
        """``GET /exchange/schedule``: open all week (no maintenance windows are simulated)."""
        day = [{"open_time": "00:00", "close_time": "00:00"}]
        week = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        hours: dict[str, Any] = dict.fromkeys(week, day)
        hours["start_time"] = "2024-12-01T00:00:00Z"
        hours["end_time"] = "2200-12-01T00:00:00Z"
        return JSONResponse({"schedule": {"standard_hours": [hours], "maintenance_windows": []}})

    # ---- market data -------------------------------------------------------------------
    def _market(self, ticker: str) -> dict[str, Any]:
        info = self.state.infos.get(ticker)
        if info is None:
            raise OrderRejected("not_found", f"market {ticker} not found", 404)
        engine = self.state.engine
        market = engine.markets[ticker]
        oi = market.open_interest(engine.accounts.values())
        return wire.market_json(info, market, self.state.clock.now(), oi)

    def _series_city(self) -> dict[str, str]:
        return {i.series_ticker: i.city for i in self.state.infos.values()}

    async def series_list(self, _request: Request) -> Response:
        """``GET /series``."""
        items = [wire.series_json(t, c) for t, c in sorted(self._series_city().items())]
        return JSONResponse({"series": items})

    async def series_one(self, request: Request) -> Response:
        """``GET /series/{series_ticker}``."""
        ticker = request.path_params["ticker"]
        city = self._series_city().get(ticker)
        if city is None:
            raise OrderRejected("not_found", f"series {ticker} not found", 404)
        return JSONResponse({"series": wire.series_json(ticker, city)})

    def _events(self) -> dict[str, list[MarketInfo]]:
        out: dict[str, list[MarketInfo]] = {}
        for info in self.state.infos.values():
            out.setdefault(info.event_ticker, []).append(info)
        return out

    def _event_status(self, infos: list[MarketInfo]) -> set[MarketStatus]:
        return {self.state.engine.markets[i.ticker].status for i in infos}

    async def events_list(self, request: Request) -> Response:
        """``GET /events`` (filters ``series_ticker``, ``status``, ``with_nested_markets``)."""
        q = request.query_params
        nested = q.get("with_nested_markets", "false").lower() == "true"
        out = []
        for _, infos in sorted(self._events().items()):
            if "series_ticker" in q and infos[0].series_ticker != q["series_ticker"]:
                continue
            if "status" in q and not self._event_status(infos) & _STATUS_FILTER.get(
                q["status"], set()
            ):
                continue
            if not _close_filter(q, infos[0].close_time):
                continue
            markets = [self._market(i.ticker) for i in infos] if nested else None
            out.append(wire.event_json(infos, markets))
        page, cursor = _page(out, request, 200, 200)
        return JSONResponse({"events": page, "cursor": cursor, "milestones": []})

    async def event_one(self, request: Request) -> Response:
        """``GET /events/{event_ticker}``: the event and its markets."""
        infos = self._events().get(request.path_params["ticker"])
        if not infos:
            raise OrderRejected("not_found", "event not found", 404)
        markets = [self._market(i.ticker) for i in infos]
        nested = request.query_params.get("with_nested_markets", "false").lower() == "true"
        return JSONResponse(
            {"event": wire.event_json(infos, markets if nested else None), "markets": markets}
        )

    async def markets_list(self, request: Request) -> Response:
        """``GET /markets`` with ``series_ticker``, ``event_ticker``, ``status``, ``tickers``."""
        q = request.query_params
        wanted = set(q["tickers"].split(",")) if q.get("tickers") else None
        statuses: set[MarketStatus] | None = None
        if q.get("status"):
            statuses = set()
            for s in q["status"].split(","):
                if s not in _STATUS_FILTER:
                    raise OrderRejected("invalid_parameters", f"unknown status {s}")
                statuses |= _STATUS_FILTER[s]
        selected = []
        for ticker in sorted(self.state.infos):
            info = self.state.infos[ticker]
            if wanted is not None and ticker not in wanted:
                continue
            if q.get("series_ticker") and info.series_ticker != q["series_ticker"]:
                continue
            if q.get("event_ticker") and info.event_ticker != q["event_ticker"]:
                continue
            if statuses is not None and self.state.engine.markets[ticker].status not in statuses:
                continue
            if not _close_filter(q, info.close_time):
                continue
            selected.append(ticker)
        page, cursor = _page(selected, request)
        return JSONResponse({"markets": [self._market(t) for t in page], "cursor": cursor})

    async def market_one(self, request: Request) -> Response:
        """``GET /markets/{ticker}``."""
        return JSONResponse({"market": self._market(request.path_params["ticker"])})

    async def orderbook(self, request: Request) -> Response:
        """``GET /markets/{ticker}/orderbook``."""
        ticker = request.path_params["ticker"]
        if ticker not in self.state.infos:
            raise OrderRejected("not_found", f"market {ticker} not found", 404)
        depth = int(request.query_params.get("depth", 0))
        return JSONResponse(wire.orderbook_json(self.state.engine.markets[ticker], depth))

    async def trades(self, request: Request) -> Response:
        """``GET /markets/trades``, newest first."""
        q = request.query_params
        markets = self.state.engine.markets
        if q.get("ticker"):
            if q["ticker"] not in markets:
                return JSONResponse({"trades": [], "cursor": ""})
            source = list(markets[q["ticker"]].trades)
        else:
            source = [t for m in markets.values() for t in m.trades]
        items = sorted(
            (t for t in source if _ts_filter(request, t.ts)), key=lambda t: t.ts, reverse=True
        )
        page, cursor = _page(items, request)
        return JSONResponse({"trades": [wire.trade_json(t) for t in page], "cursor": cursor})

    # ---- orders ------------------------------------------------------------------------
    def _request(self, body: dict[str, Any]) -> OrderRequest:
        for name in ("ticker", "side", "time_in_force", "self_trade_prevention_type"):
            if name not in body:
                raise OrderRejected("invalid_parameters", f"missing {name}")
        try:
            side = BookSide(body["side"])
            tif = TimeInForce(body["time_in_force"])
            stp = SelfTradePrevention(body["self_trade_prevention_type"])
        except ValueError as e:
            raise OrderRejected("invalid_parameters", str(e)) from None
        expiration = body.get("expiration_time")
        count = _dec(body, "count")
        price = _dec(body, "price")
        assert count is not None and price is not None
        return OrderRequest(
            ticker=str(body["ticker"]),
            side=side,
            count=count,
            price=price,
            time_in_force=tif,
            self_trade_prevention=stp,
            client_order_id=body.get("client_order_id") or None,
            post_only=bool(body.get("post_only", False)),
            reduce_only=bool(body.get("reduce_only", False)),
            expiration_time=datetime.fromtimestamp(int(expiration), UTC) if expiration else None,
            order_group_id=body.get("order_group_id") or None,
        )

    def _placed(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        placement = self.state.engine.create_order(user, self._request(body))
        self.state.publish(placement.events)
        order = placement.order
        out: dict[str, Any] = {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "fill_count": wire.fp(placement.fill_count),
            "remaining_count": wire.fp(order.remaining_count),
            "ts_ms": wire.ms(order.last_update_time),
        }
        avg, fee = placement.average_fill_price, placement.average_fee_paid
        if avg is not None and fee is not None:
            out["average_fill_price"] = wire.dollars(avg, 6)
            out["average_fee_paid"] = wire.dollars(fee, 6)
        return out

    async def create_order(self, request: Request) -> Response:
        """``POST /portfolio/events/orders``."""
        body = await self.body(request)
        return JSONResponse(self._placed(request.state.user, body), status_code=201)

    async def batch_create(self, request: Request) -> Response:
        """``POST /portfolio/events/orders/batched``: per-order results or errors."""
        body = await self.body(request)
        orders = body.get("orders")
        if not isinstance(orders, list) or not orders:
            raise OrderRejected("invalid_parameters", "orders must be a non-empty list")
        out = []
        for item in orders:
            try:
                if not isinstance(item, dict):
                    raise OrderRejected("invalid_parameters", "each order must be an object")
                out.append(self._placed(request.state.user, item))
            except OrderRejected as e:
                out.append(
                    {
                        "client_order_id": item.get("client_order_id")
                        if isinstance(item, dict)
                        else None,
                        "error": {"code": e.code, "message": e.message, "details": ""},
                    }
                )
        return JSONResponse({"orders": out}, status_code=201)

    def _cancelled(self, user: str, order_id: str) -> dict[str, Any]:
        engine = self.state.engine
        reduced, events = engine.cancel_order(user, order_id)
        self.state.publish(events)
        order = engine.orders[order_id]
        return {
            "order_id": order_id,
            "client_order_id": order.client_order_id,
            "reduced_by": wire.fp(reduced),
            "ts_ms": wire.ms(order.last_update_time),
        }

    async def cancel_order(self, request: Request) -> Response:
        """``DELETE /portfolio/events/orders/{order_id}``."""
        return JSONResponse(self._cancelled(request.state.user, request.path_params["order_id"]))

    async def batch_cancel(self, request: Request) -> Response:
        """``DELETE /portfolio/events/orders/batched``."""
        body = await self.body(request)
        items = body.get("orders")
        if not isinstance(items, list) or not items:
            raise OrderRejected("invalid_parameters", "orders must be a non-empty list")
        out = []
        for item in items:
            oid = str(item.get("order_id", "")) if isinstance(item, dict) else ""
            try:
                out.append(self._cancelled(request.state.user, oid))
            except OrderRejected as e:
                out.append(
                    {
                        "order_id": oid,
                        "reduced_by": "0.00",
                        "error": {"code": e.code, "message": e.message, "details": ""},
                    }
                )
        return JSONResponse({"orders": out})

    async def amend_order(self, request: Request) -> Response:
        """``POST /portfolio/events/orders/{order_id}/amend``."""
        body = await self.body(request)
        user = request.state.user
        engine = self.state.engine
        order = engine.order(user, request.path_params["order_id"])
        if body.get("client_order_id") and body["client_order_id"] != order.client_order_id:
            raise OrderRejected("invalid_parameters", "client_order_id does not match the order")
        for name in ("ticker", "side"):
            if name not in body:
                raise OrderRejected("invalid_parameters", f"missing {name}")
        try:
            side = BookSide(body["side"])
        except ValueError as e:
            raise OrderRejected("invalid_parameters", str(e)) from None
        price, count = _dec(body, "price"), _dec(body, "count")
        assert price is not None and count is not None
        placement = engine.amend_order(
            user,
            order.order_id,
            ticker=str(body["ticker"]),
            side=side,
            price=price,
            count=count,
            updated_client_order_id=body.get("updated_client_order_id") or None,
        )
        self.state.publish(placement.events)
        after = placement.order
        out: dict[str, Any] = {
            "order_id": after.order_id,
            "client_order_id": after.client_order_id,
            "remaining_count": wire.fp(after.remaining_count),
            "fill_count": wire.fp(placement.fill_count),
            "ts_ms": wire.ms(after.last_update_time),
        }
        avg, fee = placement.average_fill_price, placement.average_fee_paid
        out["average_fill_price"] = wire.dollars(avg, 6) if avg is not None else None
        out["average_fee_paid"] = wire.dollars(fee, 6) if fee is not None else None
        return JSONResponse(out)

    async def decrease_order(self, request: Request) -> Response:
        """``POST /portfolio/events/orders/{order_id}/decrease``."""
        body = await self.body(request)
        order, events = self.state.engine.decrease_order(
            request.state.user,
            request.path_params["order_id"],
            reduce_by=_dec(body, "reduce_by", required=False),
            reduce_to=_dec(body, "reduce_to", required=False),
        )
        self.state.publish(events)
        return JSONResponse(
            {
                "order_id": order.order_id,
                "client_order_id": order.client_order_id,
                "remaining_count": wire.fp(order.remaining_count),
                "ts_ms": wire.ms(order.last_update_time),
            }
        )

    # ---- portfolio reads ---------------------------------------------------------------
    def _user_orders(self, request: Request) -> list[Order]:
        q = request.query_params
        events = set(q["event_ticker"].split(",")) if q.get("event_ticker") else None
        out = []
        for order in self.state.engine.by_user.get(request.state.user, {}).values():
            if q.get("ticker") and order.ticker != q["ticker"]:
                continue
            if events is not None and self.state.infos[order.ticker].event_ticker not in events:
                continue
            if q.get("status") and order.status.value != q["status"]:
                continue
            if not _ts_filter(request, order.created_time):
                continue
            out.append(order)
        out.sort(key=lambda o: (o.created_time, o.priority), reverse=True)
        return out

    async def orders_list(self, request: Request) -> Response:
        """``GET /portfolio/orders``, newest first."""
        page, cursor = _page(self._user_orders(request), request)
        return JSONResponse({"orders": [wire.order_json(o) for o in page], "cursor": cursor})

    async def order_one(self, request: Request) -> Response:
        """``GET /portfolio/orders/{order_id}``."""
        order = self.state.engine.order(request.state.user, request.path_params["order_id"])
        return JSONResponse({"order": wire.order_json(order)})

    async def fills(self, request: Request) -> Response:
        """``GET /portfolio/fills`` (filters ``ticker``, ``order_id``, ``min_ts``, ``max_ts``)."""
        q = request.query_params
        user = request.state.user
        items = [
            f
            for f in reversed(self.state.engine.fills)
            if f.user_id == user
            and (not q.get("ticker") or f.ticker == q["ticker"])
            and (not q.get("order_id") or f.order_id == q["order_id"])
            and _ts_filter(request, f.ts)
        ]
        page, cursor = _page(items, request)
        return JSONResponse({"fills": [wire.fill_json(f) for f in page], "cursor": cursor})

    async def positions(self, request: Request) -> Response:
        """``GET /portfolio/positions``: unsettled market and event positions."""
        q = request.query_params
        account = self.state.engine.accounts[request.state.user]
        count_filter = set(q["count_filter"].split(",")) if q.get("count_filter") else set()
        markets = []
        events: dict[str, dict[str, Decimal]] = {}
        for ticker in sorted(account.positions):
            pos = account.positions[ticker]
            info = self.state.infos.get(ticker)
            event_ticker = info.event_ticker if info else ticker
            if q.get("ticker") and ticker != q["ticker"]:
                continue
            if q.get("event_ticker") and event_ticker != q["event_ticker"]:
                continue
            if "position" in count_filter and pos.net == 0:
                continue
            if "total_traded" in count_filter and pos.total_traded == 0:
                continue
            markets.append(wire.position_json(ticker, pos))
            agg = events.setdefault(
                event_ticker, {"cost": ZERO, "shares": ZERO, "pnl": ZERO, "fees": ZERO}
            )
            agg["cost"] += pos.exposure
            agg["shares"] += abs(pos.net)
            agg["pnl"] += pos.realized_pnl
            agg["fees"] += pos.fees_paid
        page, cursor = _page(markets, request)
        event_positions = [
            {
                "event_ticker": et,
                "total_cost_dollars": wire.dollars(a["cost"]),
                "total_cost_shares_fp": wire.fp(a["shares"]),
                "event_exposure_dollars": wire.dollars(a["cost"]),
                "realized_pnl_dollars": wire.dollars(a["pnl"]),
                "fees_paid_dollars": wire.dollars(a["fees"]),
            }
            for et, a in sorted(events.items())
        ]
        return JSONResponse(
            {"market_positions": page, "event_positions": event_positions, "cursor": cursor}
        )

    async def balance(self, request: Request) -> Response:
        """``GET /portfolio/balance``: cash, and cash plus positions at cost."""
        account = self.state.engine.accounts[request.state.user]
        exposure = sum((p.exposure for p in account.positions.values()), ZERO)
        return JSONResponse(
            {
                "balance": wire.cents(account.cash),
                "balance_dollars": wire.dollars(account.cash),
                "portfolio_value": wire.cents(account.cash + exposure),
                "updated_ts": int(self.state.clock.now().timestamp()),
            }
        )

    async def settlements(self, request: Request) -> Response:
        """``GET /portfolio/settlements``, newest first."""
        q = request.query_params
        user = request.state.user
        items = [
            s
            for s in reversed(self.state.engine.settlements)
            if s.user_id == user
            and (not q.get("ticker") or s.ticker == q["ticker"])
            and (not q.get("event_ticker") or s.event_ticker == q["event_ticker"])
            and _ts_filter(request, s.settled_time)
        ]
        page, cursor = _page(items, request)
        return JSONResponse(
            {"settlements": [wire.settlement_json(s) for s in page], "cursor": cursor}
        )

    # ---- order groups ------------------------------------------------------------------
    @staticmethod
    def _limit(body: dict[str, Any]) -> Decimal:
        whole = body.get("contracts_limit")
        fixed = _dec(body, "contracts_limit_fp", required=False)
        if whole is None and fixed is None:
            raise OrderRejected("invalid_parameters", "give contracts_limit or contracts_limit_fp")
        if whole is not None and fixed is not None and Decimal(int(whole)) != fixed:
            raise OrderRejected("invalid_parameters", "contracts_limit and _fp disagree")
        if fixed is not None:
            return fixed
        try:
            return Decimal(int(str(whole)))
        except ValueError:
            raise OrderRejected(
                "invalid_parameters", "contracts_limit must be an integer"
            ) from None

    async def create_group(self, request: Request) -> Response:
        """``POST /portfolio/order_groups/create``."""
        body = await self.body(request)
        group = self.state.engine.create_order_group(request.state.user, self._limit(body))
        return JSONResponse(
            {"order_group_id": group.group_id, "subaccount": 0, "exchange_index": 0},
            status_code=201,
        )

    async def list_groups(self, request: Request) -> Response:
        """``GET /portfolio/order_groups``."""
        groups = [
            {
                "id": g.group_id,
                "contracts_limit_fp": wire.fp(g.limit),
                "is_auto_cancel_enabled": not g.triggered,
                "exchange_index": 0,
            }
            for g in self.state.engine.order_groups.values()
            if g.user_id == request.state.user
        ]
        return JSONResponse({"order_groups": groups})

    async def get_group(self, request: Request) -> Response:
        """``GET /portfolio/order_groups/{id}``: the group and its resting orders."""
        engine = self.state.engine
        group = engine.order_group(request.state.user, request.path_params["group_id"])
        return JSONResponse(
            {
                "is_auto_cancel_enabled": not group.triggered,
                "contracts_limit_fp": wire.fp(group.limit),
                "orders": [o.order_id for o in engine.group_orders(group)],
                "exchange_index": 0,
            }
        )

    async def delete_group(self, request: Request) -> Response:
        """``DELETE /portfolio/order_groups/{id}``."""
        user, gid = request.state.user, request.path_params["group_id"]
        self.state.publish(self.state.engine.delete_order_group(user, gid))
        return JSONResponse({})

    async def reset_group(self, request: Request) -> Response:
        """``PUT /portfolio/order_groups/{id}/reset``."""
        self.state.engine.reset_order_group(request.state.user, request.path_params["group_id"])
        return JSONResponse({})

    async def trigger_group(self, request: Request) -> Response:
        """``PUT /portfolio/order_groups/{id}/trigger``."""
        user, gid = request.state.user, request.path_params["group_id"]
        self.state.publish(self.state.engine.trigger_order_group(user, gid))
        return JSONResponse({})

    async def limit_group(self, request: Request) -> Response:
        """``PUT /portfolio/order_groups/{id}/limit``."""
        limit = self._limit(await self.body(request))
        user, gid = request.state.user, request.path_params["group_id"]
        self.state.publish(self.state.engine.update_order_group_limit(user, gid, limit))
        return JSONResponse({})

    # ---- WebSocket ---------------------------------------------------------------------
    async def websocket(self, websocket: WebSocket) -> None:
        """The ``/trade-api/ws/v2`` endpoint: signed handshake, commands, channel fan-out."""
        state = self.state
        user = state.keys.authenticate(websocket.headers, "GET", WS_PATH)
        signed_attempt = "kalshi-access-signature" in websocket.headers
        if user is None and state.keys.anonymous_ws and not signed_attempt:
            user = ANONYMOUS
        if user is None:
            with contextlib.suppress(RuntimeError):
                await websocket.send_denial_response(
                    error(401, "authentication_error", "missing or invalid signature")
                )
                return
            await websocket.close(code=1008)
            return
        if user != ANONYMOUS:
            state.account(user)
        await websocket.accept()
        conn = Connection(websocket, user, state.faults)
        state.connections.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        next_sid = 1
        try:
            while not conn.closed:
                text = await websocket.receive_text()
                next_sid = self._command(conn, text, next_sid)
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            conn.closed = True
            state.connections.discard(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer

    async def _writer(self, conn: Connection) -> None:
        while True:
            text = await conn.queue.get()
            if text is None:
                conn.closed = True
                with contextlib.suppress(Exception):
                    await conn.websocket.close(code=1011)
                return
            try:
                await conn.websocket.send_text(text)
            except Exception:
                conn.closed = True
                return

    def _command(self, conn: Connection, text: str, next_sid: int) -> int:
        try:
            frame = json.loads(text)
        except json.JSONDecodeError:
            conn.send_control(
                {"type": "error", "msg": {"code": 1, "msg": "Unable to process message"}}
            )
            return next_sid
        cid = frame.get("id") if isinstance(frame, dict) else None
        if not isinstance(frame, dict):
            conn.send_control(
                {"type": "error", "msg": {"code": 1, "msg": "Unable to process message"}}
            )
            return next_sid

        def fail(code: int, msg: str) -> None:
            conn.send_control({"id": cid, "type": "error", "msg": {"code": code, "msg": msg}})

        cmd = frame.get("cmd")
        params = frame.get("params")
        if cmd not in ("subscribe", "unsubscribe", "update_subscription", "list_subscriptions"):
            fail(5, "Unknown command")
            return next_sid
        if cmd == "list_subscriptions":
            subs = [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()]
            conn.send_control({"id": cid, "type": "ok", "msg": subs})
            return next_sid
        if not isinstance(params, dict):
            fail(2, "Params required")
            return next_sid
        if cmd == "subscribe":
            return self._subscribe(conn, cid, params, next_sid, fail)
        if cmd == "unsubscribe":
            sids = params.get("sids")
            if not isinstance(sids, list) or not sids:
                fail(4, "Subscription IDs required")
                return next_sid
            for sid in sids:
                sub = conn.subs.pop(sid, None)
                if sub is None:
                    fail(7, "Unknown subscription ID")
                    continue
                conn.send_control({"id": cid, "sid": sid, "seq": sub.seq, "type": "unsubscribed"})
            return next_sid
        sids = params.get("sids") or ([params["sid"]] if "sid" in params else [])
        if len(sids) != 1:
            fail(12, "Exactly one subscription ID is required")
            return next_sid
        sub = conn.subs.get(sids[0])
        if sub is None:
            fail(7, "Unknown subscription ID")
            return next_sid
        action = params.get("action")
        tickers = self._tickers(params)
        if action is None:
            fail(15, "Action required")
        elif action == "add_markets":
            if tickers is None:
                fail(14, "Market Ticker required")
                return next_sid
            unknown = [t for t in tickers if t not in self.state.engine.markets]
            if unknown:
                fail(16, f"Market not found: {unknown[0]}")
                return next_sid
            sub.tickers = (sub.tickers or set()) | set(tickers)
            self._ok(conn, cid, sub)
            if sub.channel == "orderbook_delta":
                self._snapshots(conn, sub, tickers)
        elif action == "delete_markets":
            if tickers is None:
                fail(14, "Market Ticker required")
                return next_sid
            sub.tickers = (sub.tickers or set()) - set(tickers)
            self._ok(conn, cid, sub)
        elif action == "get_snapshot":
            if sub.channel != "orderbook_delta":
                fail(13, "Unsupported action")
                return next_sid
            self._snapshots(conn, sub, tickers or sorted(sub.tickers or ()))
        else:
            fail(13, "Unsupported action")
        return next_sid

    @staticmethod
    def _tickers(params: dict[str, Any]) -> list[str] | None:
        if isinstance(params.get("market_tickers"), list):
            return [str(t) for t in params["market_tickers"]]
        if isinstance(params.get("market_ticker"), str):
            return [params["market_ticker"]]
        return None

    def _ok(self, conn: Connection, cid: Any, sub: Subscription) -> None:
        # Kalshi's "ok" takes the subscription's next seq (recorded stream: snapshot 1, ok 2).
        sub.seq += 1
        conn.send_control(
            {
                "id": cid,
                "sid": sub.sid,
                "seq": sub.seq,
                "type": "ok",
                "msg": {"market_tickers": sorted(sub.tickers or ())},
            }
        )

    def _snapshots(self, conn: Connection, sub: Subscription, tickers: list[str]) -> None:
        markets = self.state.engine.markets
        for ticker in tickers:
            msg = wire.snapshot_msg(
                markets[ticker], self.state.market_ids.get(ticker, ""), sub.use_yes_price
            )
            sub.seq += 1
            conn.send_control(
                {"type": "orderbook_snapshot", "sid": sub.sid, "seq": sub.seq, "msg": msg}
            )

    def _subscribe(
        self,
        conn: Connection,
        cid: Any,
        params: dict[str, Any],
        next_sid: int,
        fail: Callable[[int, str], None],
    ) -> int:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            fail(3, "Channels required")
            return next_sid
        tickers = self._tickers(params)
        if tickers is not None:
            unknown = [t for t in tickers if t not in self.state.engine.markets]
            if unknown:
                fail(16, f"Market not found: {unknown[0]}")
                return next_sid
        for channel in channels:
            if channel not in PUBLIC | PRIVATE:
                fail(8, f"Unknown channel name: {channel}")
                continue
            if channel in PRIVATE and conn.user_id == ANONYMOUS:
                fail(9, "Authentication required")
                continue
            if channel == "orderbook_delta" and tickers is None:
                fail(14, "Market Ticker required")
                continue
            if any(s.channel == channel for s in conn.subs.values()):
                fail(6, "Already subscribed")
                continue
            sub = Subscription(
                next_sid,
                channel,
                set(tickers) if tickers is not None else None,
                use_yes_price=bool(params.get("use_yes_price", False)),
            )
            next_sid += 1
            conn.subs[sub.sid] = sub
            conn.send_control(
                {"id": cid, "type": "subscribed", "msg": {"channel": channel, "sid": sub.sid}}
            )
            if channel == "orderbook_delta" and tickers is not None:
                self._snapshots(conn, sub, tickers)
            elif channel == "ticker" and tickers and params.get("send_initial_snapshot"):
                now = self.state.clock.now()
                for t in tickers:
                    msg = wire.ticker_msg(
                        self.state.engine.markets[t], self.state.market_ids.get(t, ""), now
                    )
                    conn.send_control({"type": "ticker", "sid": sub.sid, "msg": msg})
        return next_sid


def create_app(state: ExchangeState, *, tick_seconds: float = 0.05) -> Starlette:
    """Build the Starlette app; a background task advances the replay every ``tick_seconds``."""
    app_ = ExchangeApp(state)
    pub, priv = app_.public, app_.private
    routes = [
        Route("/health", app_.health),
        Route(f"{API}/exchange/status", pub(app_.exchange_status)),
        Route(f"{API}/exchange/schedule", pub(app_.exchange_schedule)),
        Route(f"{API}/series", pub(app_.series_list)),
        Route(f"{API}/series/{{ticker}}", pub(app_.series_one)),
        Route(f"{API}/events", pub(app_.events_list)),
        Route(f"{API}/events/{{ticker}}", pub(app_.event_one)),
        Route(f"{API}/markets", pub(app_.markets_list)),
        Route(f"{API}/markets/trades", pub(app_.trades)),
        Route(f"{API}/markets/{{ticker}}", pub(app_.market_one)),
        Route(f"{API}/markets/{{ticker}}/orderbook", pub(app_.orderbook)),
        Route(f"{API}/portfolio/events/orders", priv(app_.create_order), methods=["POST"]),
        Route(f"{API}/portfolio/events/orders/batched", priv(app_.batch_create), methods=["POST"]),
        Route(
            f"{API}/portfolio/events/orders/batched", priv(app_.batch_cancel), methods=["DELETE"]
        ),
        Route(
            f"{API}/portfolio/events/orders/{{order_id}}",
            priv(app_.cancel_order),
            methods=["DELETE"],
        ),
        Route(
            f"{API}/portfolio/events/orders/{{order_id}}/amend",
            priv(app_.amend_order),
            methods=["POST"],
        ),
        Route(
            f"{API}/portfolio/events/orders/{{order_id}}/decrease",
            priv(app_.decrease_order),
            methods=["POST"],
        ),
        Route(f"{API}/portfolio/orders", priv(app_.orders_list)),
        Route(f"{API}/portfolio/orders/{{order_id}}", priv(app_.order_one)),
        Route(f"{API}/portfolio/fills", priv(app_.fills)),
        Route(f"{API}/portfolio/positions", priv(app_.positions)),
        Route(f"{API}/portfolio/balance", priv(app_.balance)),
        Route(f"{API}/portfolio/settlements", priv(app_.settlements)),
        Route(f"{API}/portfolio/order_groups", priv(app_.list_groups)),
        Route(f"{API}/portfolio/order_groups/create", priv(app_.create_group), methods=["POST"]),
        Route(f"{API}/portfolio/order_groups/{{group_id}}", priv(app_.get_group)),
        Route(
            f"{API}/portfolio/order_groups/{{group_id}}",
            priv(app_.delete_group),
            methods=["DELETE"],
        ),
        Route(
            f"{API}/portfolio/order_groups/{{group_id}}/reset",
            priv(app_.reset_group),
            methods=["PUT"],
        ),
        Route(
            f"{API}/portfolio/order_groups/{{group_id}}/trigger",
            priv(app_.trigger_group),
            methods=["PUT"],
        ),
        Route(
            f"{API}/portfolio/order_groups/{{group_id}}/limit",
            priv(app_.limit_group),
            methods=["PUT"],
        ),
        WebSocketRoute(WS_PATH, app_.websocket),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async def ticker() -> None:
            while True:
                try:
                    state.tick()
                except Exception:
                    _log.exception("exchange tick failed")
                await asyncio.sleep(tick_seconds)

        task = asyncio.create_task(ticker())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return Starlette(routes=routes, lifespan=lifespan)
