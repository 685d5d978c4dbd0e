"""The trader's market data: REST snapshots with the live top of book from the WebSocket.

:class:`MarketFeed` answers "what are the markets of this series now?" for the trader.
Status, close time, results and new listings come from a REST snapshot
(``get_markets(series_ticker=...)``) refreshed at least every ``rest_interval``; between
refreshes the best YES bid and ask (and their sizes) of every open market come from the
WebSocket client's local order books, when they are usable. A book is usable when the
connection is up, the book is synced (snapshot applied, no pending resync), the feed
subscribed it, the last REST snapshot did not contradict it, and it was confirmed (by a
WebSocket update, or by a REST snapshot that agreed with it) within ``stale_after``. When
any open market of the series has no usable book, the call falls back to REST
(:attr:`FeedStats.rest_fallbacks`). With ``websocket=None`` (paper mode: Kalshi's WebSocket
needs a signed handshake) every call is served from REST.

Every WebSocket book update marks its market's event as changed: :meth:`MarketFeed.wait_for_change`
wakes the trader, and :meth:`MarketFeed.changed_events` says which events to decide again.

Wiring (a few lines)::

    feed: MarketFeed
    ws = websocket_from_settings(settings, on_event=lambda e: feed.on_event(e)) if auth else None
    feed = MarketFeed(client, ws, clock, rest_interval=timedelta(seconds=30),
                      stale_after=timedelta(seconds=60))
    feed.register_metrics(trader.registry)
    tg.create_task(feed.run())                   # runs the WebSocket client, if any
    ...
    markets = await feed.markets(station.series)  # instead of client.get_markets(...)
    ...
    await feed.wait_for_change(timeout=poll_seconds)  # instead of a fixed sleep
    events = feed.changed_events()

New open tickers seen in REST snapshots are subscribed (``orderbook_delta``) in one batch
at the next :meth:`MarketFeed.wait_for_change` or :meth:`MarketFeed.sync_subscriptions`. A
Kalshi session holds one subscription per channel, so tickers listed after the first
subscription are added to it with ``update_subscription``/``add_markets``
(:meth:`~milkbot.venues.kalshi.websocket.KalshiWebSocket.add_markets`); a WebSocket client
without ``add_markets`` leaves them on REST (:attr:`FeedStats.uncovered_tickers`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from websockets.exceptions import WebSocketException

from milkbot.clock import Clock
from milkbot.domain.market import Market, complement
from milkbot.logging import get_logger
from milkbot.venues.kalshi.orderbook import LocalOrderBook
from milkbot.venues.kalshi.websocket import (
    BookUpdate,
    Connected,
    Disconnected,
    ResyncRequested,
    SubscriptionError,
    WsEvent,
)

log = get_logger(__name__)

BOOK_CHANNEL = "orderbook_delta"
ZERO = Decimal(0)
ONE = Decimal(1)


class MarketSource(Protocol):
    """Where a series' markets are read over REST: :class:`KalshiClient` or a wrapper of it."""

    async def get_markets(self, *, series_ticker: str) -> list[Market]:
        """Every market of the series, with its top of book."""
        ...


class BookStream(Protocol):
    """The WebSocket side: :class:`~milkbot.venues.kalshi.websocket.KalshiWebSocket` fits."""

    books: dict[str, LocalOrderBook]

    async def subscribe(self, channel: str, tickers: Iterable[str] = ()) -> None:
        """Subscribe a channel for ``tickers`` (now, and again after every reconnect)."""
        ...

    async def run(self) -> None:
        """Connect and process frames until closed."""
        ...

    async def close(self) -> None:
        """Stop :meth:`run`."""
        ...


@runtime_checkable
class MarketAdder(Protocol):
    """A WebSocket client that can add markets to an existing subscription."""

    async def add_markets(self, channel: str, tickers: Iterable[str]) -> None:
        """Add ``tickers`` to the subscription of ``channel`` (``update_subscription``)."""
        ...


@dataclass
class FeedStats:
    """What the feed has done since it started (for ``/health`` and Prometheus)."""

    ws_updates: int = 0
    rest_snapshots: int = 0
    rest_fallbacks: int = 0
    resyncs: int = 0
    disconnects: int = 0
    connections: int = 0
    mismatches: int = 0
    subscription_errors: int = 0
    connected: bool = False
    subscribed_tickers: int = 0
    uncovered_tickers: int = 0
    last_fallback_reason: str = ""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    fetched_at: datetime
    markets: tuple[Market, ...]


def _wants_book(market: Market, now: datetime) -> bool:
    """Whether the market trades at ``now`` (only those need a live book)."""
    return market.is_tradable and (market.close_time is None or market.close_time > now)


def overlay(market: Market, book: LocalOrderBook) -> Market:
    """``market`` with its top of book taken from ``book`` (REST conventions for empty sides).

    Like Kalshi's REST market, an empty bid side reads as a YES bid of 0 with size 0 and an
    empty ask side as a YES ask of 1 with size 0.
    """
    bid = book.best_yes_bid
    ask = book.best_yes_ask
    yes_bid = bid.price if bid is not None else ZERO
    yes_ask = ask.price if ask is not None else ONE
    return replace(
        market,
        yes_bid=yes_bid,
        yes_ask=yes_ask,
        no_bid=complement(yes_ask),
        no_ask=complement(yes_bid),
        yes_bid_size=bid.size if bid is not None else ZERO,
        yes_ask_size=ask.size if ask is not None else ZERO,
    )


def _same_top(live: Market, rest: Market) -> bool:
    """Whether the REST quote agrees with the book's (sizes only where REST has them)."""
    if live.yes_bid != rest.yes_bid or live.yes_ask != rest.yes_ask:
        return False
    if rest.yes_bid_size is not None and live.yes_bid_size != rest.yes_bid_size:
        return False
    return rest.yes_ask_size is None or live.yes_ask_size == rest.yes_ask_size


class MarketFeed:
    """Markets per series from REST, with the live top of book from the WebSocket.

    Parameters
    ----------
    client : MarketSource
        The REST client (``get_markets``).
    websocket : BookStream | None
        The WebSocket client whose ``on_event`` calls :meth:`on_event`; None for REST only.
    clock : Clock
        The time that ``rest_interval`` and ``stale_after`` are measured on.
    rest_interval : timedelta
        The longest a series' REST snapshot is reused.
    stale_after : timedelta
        A book not confirmed for this long is not used (REST fallback).
    """

    def __init__(
        self,
        client: MarketSource,
        websocket: BookStream | None,
        clock: Clock,
        *,
        rest_interval: timedelta,
        stale_after: timedelta,
    ) -> None:
        if rest_interval <= timedelta(0) or stale_after <= timedelta(0):
            raise ValueError("rest_interval and stale_after must be positive")
        self._client = client
        self._ws = websocket
        self._clock = clock
        self._rest_interval = rest_interval
        self._stale_after = stale_after
        self.stats = FeedStats()
        self._snapshots: dict[str, _Snapshot] = {}
        self._event_of: dict[str, str] = {}
        self._subscribed: set[str] = set()
        self._pending: set[str] = set()
        self._uncovered: set[str] = set()
        self._connected = False
        self._version = 0
        self._updated: dict[str, int] = {}
        self._confirmed_at: dict[str, datetime] = {}
        self._distrusted: set[str] = set()
        self._changed: set[str] = set()
        self._wake = asyncio.Event()

    # --- WebSocket events ------------------------------------------------------------------

    def on_event(self, event: WsEvent) -> None:
        """Take one WebSocket event (pass as, or call from, the client's ``on_event``)."""
        if isinstance(event, BookUpdate):
            self.stats.ws_updates += 1
            self._version += 1
            self._updated[event.ticker] = self._version
            self._confirmed_at[event.ticker] = self._clock.now()
            self._distrusted.discard(event.ticker)
            event_ticker = self._event_of.get(event.ticker)
            if event_ticker is not None:
                self.mark_changed([event_ticker])
        elif isinstance(event, Connected):
            self._connected = True
            self.stats.connected = True
            self.stats.connections += 1
        elif isinstance(event, Disconnected):
            if self._connected:
                self.stats.disconnects += 1
            self._connected = False
            self.stats.connected = False
        elif isinstance(event, ResyncRequested):
            if event.channel == BOOK_CHANNEL:
                self.stats.resyncs += 1
        elif isinstance(event, SubscriptionError):
            self.stats.subscription_errors += 1
            log.warning("market_feed.subscription_error", code=event.code, msg=event.message)

    # --- change notification ---------------------------------------------------------------

    def mark_changed(self, event_tickers: Iterable[str]) -> None:
        """Mark events as changed (book updates do this; a forecast update may too)."""
        self._changed.update(event_tickers)
        if self._changed:
            self._wake.set()

    def changed_events(self) -> set[str]:
        """The events whose book changed since the last call (the set is cleared)."""
        out, self._changed = self._changed, set()
        self._wake.clear()
        return out

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (the poll bound)
        """Subscribe new tickers, then wait up to ``timeout`` seconds for a changed event.

        Returns True when an event changed (possibly before the call), False on timeout.
        """
        await self.sync_subscriptions()
        if self._changed:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        return bool(self._changed)

    # --- subscriptions ---------------------------------------------------------------------

    async def sync_subscriptions(self) -> None:
        """Subscribe the open tickers seen in REST snapshots and not subscribed yet."""
        if self._ws is None or not self._pending:
            return
        new = sorted(self._pending - self._subscribed - self._uncovered)
        self._pending.clear()
        if not new:
            return
        try:
            if not self._subscribed:
                await self._ws.subscribe(BOOK_CHANNEL, new)
            elif isinstance(self._ws, MarketAdder):
                await self._ws.add_markets(BOOK_CHANNEL, new)
            else:
                self._uncovered.update(new)
                self.stats.uncovered_tickers = len(self._uncovered)
                log.info("market_feed.uncovered", tickers=len(new))
                return
        except (OSError, WebSocketException) as exc:
            # The client keeps the subscription and sends it again when it reconnects.
            log.warning("market_feed.subscribe_failed", error=str(exc))
        self._subscribed.update(new)
        self.stats.subscribed_tickers = len(self._subscribed)

    # --- markets ---------------------------------------------------------------------------

    def _book(self, ticker: str) -> LocalOrderBook | None:
        """The ticker's book when the connection is up and the book synced, else None."""
        if self._ws is None or not self._connected or ticker not in self._subscribed:
            return None
        book = self._ws.books.get(ticker)
        return book if book is not None and book.synced else None

    def _live_book(self, ticker: str, now: datetime) -> LocalOrderBook | None:
        """The ticker's book when it can stand in for REST at ``now``, else None."""
        book = self._book(ticker)
        if book is None or ticker in self._distrusted:
            return None
        confirmed = self._confirmed_at.get(ticker)
        if confirmed is None or now - confirmed > self._stale_after:
            return None
        return book

    def _why_not_live(self, ticker: str) -> str:
        if self._ws is None:
            return "no websocket"
        if not self._connected:
            return "disconnected"
        if ticker not in self._subscribed:
            return "not subscribed"
        book = self._ws.books.get(ticker)
        if book is None or not book.synced:
            return "book not synced"
        if ticker in self._distrusted:
            return "book contradicted by REST"
        return "stale book"

    async def markets(self, series_ticker: str) -> list[Market]:
        """The series' current markets, with the live top of book where the WebSocket has it."""
        now = self._clock.now()
        snap = self._snapshots.get(series_ticker)
        if snap is not None and now - snap.fetched_at < self._rest_interval:
            out: list[Market] = []
            for m in snap.markets:
                if not _wants_book(m, now):
                    out.append(m)
                    continue
                book = self._live_book(m.ticker, now)
                if book is None:
                    self.stats.rest_fallbacks += 1
                    self.stats.last_fallback_reason = self._why_not_live(m.ticker)
                    return await self._refresh(series_ticker)
                out.append(overlay(m, book))
            return out
        return await self._refresh(series_ticker)

    async def _refresh(self, series_ticker: str) -> list[Market]:
        """Fetch the series over REST; reconcile it with the books."""
        started = self._clock.now()
        mark = self._version
        markets = await self._client.get_markets(series_ticker=series_ticker)
        self.stats.rest_snapshots += 1
        now = self._clock.now()
        out: list[Market] = []
        for m in markets:
            self._event_of[m.ticker] = m.event_ticker
            if not _wants_book(m, now):
                out.append(m)
                continue
            if m.ticker not in self._subscribed:
                self._pending.add(m.ticker)
            book = self._book(m.ticker)
            if book is None:
                out.append(m)
                continue
            live = overlay(m, book)
            if self._updated.get(m.ticker, 0) > mark:
                out.append(live)  # the book moved while the request was in flight: it is newer
            elif _same_top(live, m):
                self._confirmed_at[m.ticker] = now
                self._distrusted.discard(m.ticker)
                out.append(live)
            else:
                if m.ticker not in self._distrusted:
                    self.stats.mismatches += 1
                    log.info("market_feed.book_mismatch", ticker=m.ticker)
                self._distrusted.add(m.ticker)
                out.append(m)
        self._snapshots[series_ticker] = _Snapshot(started, tuple(markets))
        return out

    # --- lifecycle and metrics -------------------------------------------------------------

    async def run(self) -> None:
        """Run the WebSocket client until :meth:`close` (returns at once without one)."""
        if self._ws is not None:
            await self._ws.run()

    async def close(self) -> None:
        """Stop the WebSocket client."""
        if self._ws is not None:
            await self._ws.close()

    def health(self) -> dict[str, object]:
        """The stats as a JSON-ready dict (for ``/health``)."""
        body: dict[str, object] = asdict(self.stats)
        body["websocket"] = self._ws is not None
        return body

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """Expose the stats as ``milkbot_market_feed_*`` metrics in ``registry``."""
        registry.register(_FeedCollector(self.stats))


class _FeedCollector(Collector):
    """Prometheus view of :class:`FeedStats`."""

    _COUNTERS = (
        ("ws_updates", "WebSocket book updates applied"),
        ("rest_snapshots", "REST market snapshots fetched"),
        ("rest_fallbacks", "Calls served from REST because a live book was not usable"),
        ("resyncs", "Order book resyncs requested"),
        ("disconnects", "WebSocket connections lost"),
        ("mismatches", "Books contradicted by a REST snapshot"),
    )

    def __init__(self, stats: FeedStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """Yield the current values."""
        for name, doc in self._COUNTERS:
            yield CounterMetricFamily(
                f"milkbot_market_feed_{name}", doc, value=getattr(self._stats, name)
            )
        yield GaugeMetricFamily(
            "milkbot_market_feed_connected",
            "Whether the WebSocket is connected",
            value=int(self._stats.connected),
        )
        yield GaugeMetricFamily(
            "milkbot_market_feed_subscribed_tickers",
            "Markets subscribed on the WebSocket",
            value=self._stats.subscribed_tickers,
        )
