"""Kalshi WebSocket client: authenticated handshake, subscriptions, local books, reconnects.

Channels: ``orderbook_delta``, ``ticker``, ``trade`` (public, per market) and ``fill``,
``user_orders``, ``market_positions`` (private, all markets). Every frame is translated into
a domain event and passed to ``on_event``. Order books are kept in :attr:`books`; a ``seq``
gap or an impossible delta unsubscribes and resubscribes the book channel (a fresh snapshot
follows). Private channels cannot be replayed, so a gap there emits
:class:`ResyncRequested` and the consumer reconciles over REST. Lost connections are
retried with jittered exponential backoff and every subscription is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlparse

from websockets.exceptions import WebSocketException

from milkbot.clock import Clock, SystemClock
from milkbot.domain.market import OutcomeSide, Trade, complement
from milkbot.domain.portfolio import FillReport, OrderReport, PositionReport
from milkbot.errors import ParseError
from milkbot.logging import get_logger
from milkbot.venues.kalshi import parsing
from milkbot.venues.kalshi import schemas as w
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.orderbook import (
    BookCorruptError,
    LocalOrderBook,
    SequenceGapError,
    SequenceTracker,
)

PROD_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_WS_URL = "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
MARKET_CHANNELS = frozenset({"orderbook_delta", "ticker", "trade"})
PRIVATE_CHANNELS = frozenset({"fill", "user_orders", "market_positions"})

_log = get_logger(__name__)


class WsConnection(Protocol):
    """The part of a WebSocket connection the client uses."""

    async def send(self, message: str) -> None:
        """Send a text frame."""
        ...

    async def recv(self) -> str | bytes:
        """Receive the next data frame; raise ConnectionClosed when closed."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


ConnectFn = Callable[[str, dict[str, str]], Awaitable[WsConnection]]


async def default_connect(url: str, headers: dict[str, str]) -> WsConnection:
    """Open a connection with the ``websockets`` library (answers Kalshi's pings)."""
    from websockets.asyncio.client import connect

    conn: WsConnection = await connect(
        url, additional_headers=headers, ping_interval=20, ping_timeout=20, max_size=2**24
    )
    return conn


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """A local book changed (snapshot or delta); read it from :attr:`KalshiWebSocket.books`."""

    ticker: str
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class TickerUpdate:
    """A ``ticker`` channel update (YES-leg prices)."""

    ticker: str
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    last_price: Decimal | None
    volume: Decimal | None
    open_interest: Decimal | None
    ts: datetime | None


@dataclass(frozen=True, slots=True)
class ResyncRequested:
    """Frames of ``channel`` were lost; books resubscribe, private state needs a REST sync."""

    channel: str
    reason: str


@dataclass(frozen=True, slots=True)
class Connected:
    """A connection was established and subscriptions were sent."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection was lost or could not be opened."""

    reason: str


@dataclass(frozen=True, slots=True)
class SubscriptionError:
    """Kalshi answered a command with an ``error`` frame."""

    code: int | None
    message: str


WsEvent = (
    BookUpdate
    | TickerUpdate
    | Trade
    | FillReport
    | OrderReport
    | PositionReport
    | ResyncRequested
    | Connected
    | Disconnected
    | SubscriptionError
)


@dataclass
class _Subscription:
    channel: str
    tickers: tuple[str, ...] = ()
    sid: int | None = None
    cmd_id: int | None = None
    resyncs: int = 0
    pending: bool = field(default=False)
    # Markets added while the subscribe command was unanswered: sent once it is.
    unsent: tuple[str, ...] = ()


class KalshiWebSocket:
    """A reconnecting Kalshi WebSocket client.

    Parameters
    ----------
    url : str
        WebSocket URL (``.../trade-api/ws/v2``).
    auth : KalshiAuth | None
        Signs the handshake (``GET`` + URL path). Kalshi requires it; the local exchange may not.
    on_event : Callable[[WsEvent], None] | None
        Receives every domain event in order.
    connect : ConnectFn | None
        Opens a connection (tests inject a scripted one).
    clock, random_fn, sleep
        Injected time, jitter and sleep.
    use_yes_price : bool
        Ask Kalshi for YES-leg pricing of NO levels; the books convert back either way.
    """

    def __init__(
        self,
        url: str = PROD_WS_URL,
        *,
        auth: KalshiAuth | None = None,
        on_event: Callable[[WsEvent], None] | None = None,
        connect: ConnectFn | None = None,
        clock: Clock | None = None,
        random_fn: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        use_yes_price: bool = False,
    ) -> None:
        self.url = url
        self._auth = auth
        self._on_event = on_event or (lambda _e: None)
        self._connect = connect or default_connect
        self._clock = clock or SystemClock()
        self._random = random_fn or random.random
        self._sleep = sleep or asyncio.sleep
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self.use_yes_price = use_yes_price
        self.books: dict[str, LocalOrderBook] = {}
        self._subs: list[_Subscription] = []
        self._by_cmd: dict[int, _Subscription] = {}
        self._by_sid: dict[int, _Subscription] = {}
        self._seq = SequenceTracker()
        self._next_id = 1
        self._conn: WsConnection | None = None
        self._stopping = False
        self.connections = 0
        self.resyncs = 0

    # --- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, channel: str, tickers: Iterable[str] = ()) -> None:
        """Subscribe a channel (now if connected, and again after every reconnect)."""
        if channel not in MARKET_CHANNELS | PRIVATE_CHANNELS:
            raise ValueError(f"unsupported channel {channel!r}")
        tick = tuple(dict.fromkeys(tickers))
        if channel in MARKET_CHANNELS and not tick:
            raise ValueError(f"channel {channel} needs market tickers")
        sub = _Subscription(channel, tick)
        self._subs.append(sub)
        for t in tick if channel == "orderbook_delta" else ():
            self.books.setdefault(t, LocalOrderBook(t))
        if self._conn is not None:
            await self._send_subscribe(self._conn, sub)

    async def add_markets(self, channel: str, tickers: Iterable[str]) -> None:
        """Add markets to a market channel's subscription (``update_subscription`` with
        ``add_markets``; Kalshi sends a snapshot of each new book). Without a subscription of
        ``channel`` yet, this subscribes it. Added markets are part of every resubscription.
        """
        sub = next((s for s in self._subs if s.channel == channel), None)
        if sub is None:
            await self.subscribe(channel, tickers)
            return
        if channel not in MARKET_CHANNELS:
            raise ValueError(f"channel {channel} has no market list")
        new = tuple(t for t in dict.fromkeys(tickers) if t not in sub.tickers)
        if not new:
            return
        sub.tickers += new
        for t in new if channel == "orderbook_delta" else ():
            self.books.setdefault(t, LocalOrderBook(t))
        if self._conn is None:
            return  # the next connection subscribes every ticker
        if sub.sid is None:
            sub.unsent += new
            return
        await self._send_add(self._conn, sub, new)

    async def _send_add(self, conn: WsConnection, sub: _Subscription, new: tuple[str, ...]) -> None:
        assert sub.sid is not None
        params = {"sids": [sub.sid], "market_tickers": list(new), "action": "add_markets"}
        _, text = self._command("update_subscription", params)
        await conn.send(text)

    def _command(self, cmd: str, params: dict[str, Any]) -> tuple[int, str]:
        cmd_id = self._next_id
        self._next_id += 1
        return cmd_id, json.dumps({"id": cmd_id, "cmd": cmd, "params": params})

    async def _send_subscribe(self, conn: WsConnection, sub: _Subscription) -> None:
        params: dict[str, Any] = {"channels": [sub.channel]}
        if sub.tickers:
            params["market_tickers"] = list(sub.tickers)
        if sub.channel == "orderbook_delta" and self.use_yes_price:
            params["use_yes_price"] = True
        cmd_id, text = self._command("subscribe", params)
        sub.cmd_id, sub.sid, sub.pending, sub.unsent = cmd_id, None, True, ()
        self._by_cmd[cmd_id] = sub
        await conn.send(text)

    # --- connection loop -------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * float(1 << min(attempt, 20)))
        return float(self._random()) * ceiling

    def _handshake_headers(self) -> dict[str, str]:
        if self._auth is None:
            return {}
        return self._auth.headers("GET", urlparse(self.url).path)

    async def run(self) -> None:
        """Connect, subscribe and process frames until :meth:`close`; reconnect on loss."""
        failures = 0
        while not self._stopping:
            try:
                conn = await self._connect(self.url, self._handshake_headers())
            except (OSError, WebSocketException, TimeoutError) as exc:
                failures += 1
                self._emit(Disconnected(f"connect failed: {exc}"))
                await self._sleep(self._backoff(failures))
                continue
            self.connections += 1
            self._conn = conn
            got_data = False
            try:
                self._reset_session()
                for sub in self._subs:
                    await self._send_subscribe(conn, sub)
                self._emit(Connected(self.connections))
                while not self._stopping:
                    raw = await conn.recv()
                    got_data = True
                    await self._handle_raw(conn, raw)
            except (OSError, WebSocketException, TimeoutError, EOFError) as exc:
                if not self._stopping:
                    self._emit(Disconnected(f"{type(exc).__name__}: {exc}"))
            finally:
                self._conn = None
                for book in self.books.values():
                    book.invalidate()
                with contextlib.suppress(OSError, WebSocketException):
                    await conn.close()
            if self._stopping:
                break
            failures = 0 if got_data else failures + 1
            await self._sleep(self._backoff(failures))

    async def close(self) -> None:
        """Stop :meth:`run` and close the connection."""
        self._stopping = True
        conn = self._conn
        if conn is not None:
            await conn.close()

    def _reset_session(self) -> None:
        self._seq.reset()
        self._by_cmd.clear()
        self._by_sid.clear()

    def _emit(self, event: WsEvent) -> None:
        self._on_event(event)

    # --- frames ----------------------------------------------------------------------------

    async def _handle_raw(self, conn: WsConnection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            _log.warning("kalshi_ws.bad_json", raw=str(raw)[:200])
            return
        if isinstance(frame, dict):
            await self.handle_frame(conn, frame)

    async def handle_frame(self, conn: WsConnection, frame: dict[str, Any]) -> None:
        """Process one decoded frame (public for replay tests and benchmarks)."""
        ftype = frame.get("type")
        msg = frame.get("msg") or {}
        if ftype == "subscribed":
            sub = self._on_subscribed(frame.get("id"), msg)
            if sub is not None and sub.unsent:
                added, sub.unsent = sub.unsent, ()
                await self._send_add(conn, sub, added)
            return
        if ftype == "error":
            code = msg.get("code") if isinstance(msg, dict) else None
            text = str(msg.get("msg", "")) if isinstance(msg, dict) else str(msg)
            self._emit(SubscriptionError(code, text))
            return
        sid = frame.get("sid")
        sub = self._by_sid.get(sid) if isinstance(sid, int) else None
        if isinstance(sid, int) and sub is None:
            return  # a frame of a subscription we dropped (resync) or never made
        seq = frame.get("seq")
        if sub is not None and isinstance(seq, int):
            try:
                if not self._seq.observe(sub.sid or 0, seq):
                    return  # duplicate
            except SequenceGapError as exc:
                await self._resync(conn, sub, str(exc))
                return
        try:
            self._dispatch(ftype, msg)
        except BookCorruptError as exc:
            if sub is not None:
                await self._resync(conn, sub, str(exc))
        except ParseError as exc:
            _log.warning("kalshi_ws.bad_frame", type=ftype, error=str(exc))
            if sub is not None and sub.channel == "orderbook_delta":
                await self._resync(conn, sub, str(exc))

    def _on_subscribed(self, cmd_id: Any, msg: dict[str, Any]) -> _Subscription | None:
        sid, channel = msg.get("sid"), msg.get("channel")
        sub = self._by_cmd.get(cmd_id) if isinstance(cmd_id, int) else None
        if sub is None:
            sub = next((s for s in self._subs if s.pending and s.channel == channel), None)
        if sub is None or not isinstance(sid, int):
            return None
        sub.sid, sub.pending = sid, False
        self._by_sid[sid] = sub
        return sub

    async def _resync(self, conn: WsConnection, sub: _Subscription, reason: str) -> None:
        self.resyncs += 1
        sub.resyncs += 1
        _log.warning("kalshi_ws.resync", channel=sub.channel, reason=reason)
        self._emit(ResyncRequested(sub.channel, reason))
        if sub.channel != "orderbook_delta":
            if sub.sid is not None:
                self._seq.forget(sub.sid)  # accept the stream from here; REST fills the hole
            return
        for t in sub.tickers:
            self.books.setdefault(t, LocalOrderBook(t)).invalidate()
        if sub.sid is not None:
            self._by_sid.pop(sub.sid, None)
            self._seq.forget(sub.sid)
            _, text = self._command("unsubscribe", {"sids": [sub.sid]})
            await conn.send(text)
        await self._send_subscribe(conn, sub)

    def _dispatch(self, ftype: Any, msg: Any) -> None:
        if ftype == "orderbook_snapshot":
            snap = parsing.validate(w.WsOrderbookSnapshot, msg)
            no_levels = snap.no_dollars_fp or []
            if self.use_yes_price:
                no_levels = [(complement(p), q) for p, q in no_levels]
            book = self.books.setdefault(snap.market_ticker, LocalOrderBook(snap.market_ticker))
            book.apply_snapshot(snap.yes_dollars_fp or [], no_levels, self._clock.now())
            self._emit(BookUpdate(snap.market_ticker, True))
        elif ftype == "orderbook_delta":
            d = parsing.validate(w.WsOrderbookDelta, msg)
            found = self.books.get(d.market_ticker)
            if found is None:
                raise BookCorruptError(f"delta for unknown book {d.market_ticker}")
            book = found
            if d.side not in ("yes", "no"):
                raise ParseError(f"bad delta side {d.side!r}")
            side = OutcomeSide(d.side)
            price = d.price_dollars
            if side is OutcomeSide.NO and self.use_yes_price:
                price = complement(price)
            ts = parsing.from_ms(d.ts_ms) if d.ts_ms is not None else self._clock.now()
            book.apply_delta(side, price, d.delta_fp, ts)
            self._emit(BookUpdate(d.market_ticker, False))
        elif ftype == "ticker":
            t = parsing.validate(w.WsTicker, msg)
            self._emit(
                TickerUpdate(
                    t.market_ticker,
                    t.yes_bid_dollars,
                    t.yes_ask_dollars,
                    t.price_dollars,
                    t.volume_fp,
                    t.open_interest_fp,
                    None if t.ts_ms is None else parsing.from_ms(t.ts_ms),
                )
            )
        elif ftype == "trade":
            self._emit(_ws_trade(parsing.validate(w.WsTrade, msg)))
        elif ftype == "fill":
            self._emit(parsing.ws_fill(msg))
        elif ftype == "user_order":
            self._emit(parsing.ws_user_order(msg))
        elif ftype == "market_position":
            self._emit(parsing.ws_market_position(msg))


def _ws_trade(t: w.WsTrade) -> Trade:
    taker = t.taker_outcome_side or t.taker_side
    if taker not in ("yes", "no"):
        raise ParseError(f"trade {t.trade_id} has no taker side")
    if t.ts_ms is not None:
        ts = parsing.from_ms(t.ts_ms)
    elif t.ts is not None:
        ts = parsing.from_s(t.ts)
    else:
        raise ParseError(f"trade {t.trade_id} has no time")
    return Trade(
        trade_id=t.trade_id,
        ticker=t.market_ticker,
        yes_price=t.yes_price_dollars,
        count=t.count_fp,
        taker_side=OutcomeSide(taker),
        created_time=ts,
        is_block_trade=t.is_block_trade,
    )
