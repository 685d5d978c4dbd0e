"""The trader's market feed against the real local exchange (REST and WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import Dataset, load_dataset
from milkbot.domain.market import BookSide, Market, OutcomeSide
from milkbot.domain.portfolio import Action, OrderRequest
from milkbot.trader.market_feed import MarketFeed
from milkbot.venues.exchange.faults import FaultConfig
from milkbot.venues.exchange.matching import MarketStatus
from milkbot.venues.exchange.server import ExchangeState
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.ratelimit import RateLimits
from milkbot.venues.kalshi.websocket import KalshiWebSocket
from tests.venues.exchange.conftest import KEY_ID, SIM_NOW, make_state, serve

CENT = Decimal("0.01")
PRICE = Decimal("0.30")
LONG = timedelta(hours=1)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    """A key registered with the exchange as ``KEY_ID``."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    """The bundled real tape."""
    return load_dataset([bundled.path("kalshi-tape-demo")])


class CountingClient:
    """A real REST client that counts the feed's ``get_markets`` calls."""

    def __init__(self, client: KalshiClient) -> None:
        self.client = client
        self.calls = 0

    async def get_markets(self, *, series_ticker: str | None = None) -> list[Market]:
        """Fetch over REST and count the call."""
        self.calls += 1
        return await self.client.get_markets(series_ticker=series_ticker)


@dataclass
class Venue:
    """A running exchange, a signed REST client and the (empty) market the tests bid in."""

    state: ExchangeState
    ws_url: str
    client: KalshiClient
    ticker: str
    series: str
    event: str
    bid: Decimal
    ask: Decimal


def _empty_market(state: ExchangeState) -> str:
    """An active market whose book is empty at the test's time: any bid becomes the top."""
    for ticker, market in sorted(state.engine.markets.items()):
        bid, ask = market.best(BookSide.BID), market.best(BookSide.ASK)
        if market.status is MarketStatus.ACTIVE and bid is None and ask is None:
            return ticker
    raise AssertionError("no active market with an empty book in the tape")


@contextlib.asynccontextmanager
async def _venue(dataset: Dataset, key: rsa.RSAPrivateKey) -> AsyncIterator[Venue]:
    state, _clock = make_state(dataset, key)
    ticker = _empty_market(state)
    info = state.infos[ticker]
    async for url in serve(state):
        client = KalshiClient(
            f"{url}/trade-api/v2",
            auth=KalshiAuth(KEY_ID, key),
            backoff_base=0.001,
            rate_limits=RateLimits(read_per_second=1e5, write_per_second=1e5),
        )
        async with client:
            yield Venue(
                state,
                url.replace("http://", "ws://") + "/trade-api/ws/v2",
                client,
                ticker,
                info.series_ticker,
                info.event_ticker,
                Decimal(0),  # Kalshi's REST quote of an empty book: bid 0, ask 1
                Decimal(1),
            )


async def until(cond: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Wait for ``cond`` (a generous deadline, only to end a hung test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _bid(venue: Venue, price: Decimal, count: int, cid: str) -> None:
    req = OrderRequest(venue.ticker, OutcomeSide.YES, Action.BUY, price, Decimal(count), cid)
    ack = await venue.client.create_order(req)
    assert ack.remaining == count  # it rests: nothing sells YES in this market


def _one(markets: list[Market], ticker: str) -> Market:
    return next(m for m in markets if m.ticker == ticker)


async def _rest_top(venue: Venue) -> Market:
    return _one(await venue.client.get_markets(series_ticker=venue.series), venue.ticker)


@dataclass
class Live:
    """A feed wired to a running WebSocket client."""

    feed: MarketFeed
    ws: KalshiWebSocket
    rest: CountingClient
    clock: FixedClock
    open_tickers: list[str]


@contextlib.asynccontextmanager
async def _live_feed(
    venue: Venue,
    key: rsa.RSAPrivateKey,
    *,
    stale_after: timedelta = LONG,
    rest_interval: timedelta = LONG,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> AsyncIterator[Live]:
    clock = FixedClock(SIM_NOW)
    rest = CountingClient(venue.client)
    feed: MarketFeed
    ws = KalshiWebSocket(
        venue.ws_url,
        auth=KalshiAuth(KEY_ID, key),
        on_event=lambda e: feed.on_event(e),
        backoff_base=0.01,
        backoff_cap=0.05,
        random_fn=lambda: 1.0,
        sleep=sleep,
    )
    feed = MarketFeed(rest, ws, clock, rest_interval=rest_interval, stale_after=stale_after)
    runner = asyncio.create_task(feed.run())
    try:
        first = await feed.markets(venue.series)
        open_tickers = [m.ticker for m in first if m.is_tradable]
        assert venue.ticker in open_tickers
        await feed.wait_for_change(timeout=0.0)  # subscribes the open tickers seen
        await until(
            lambda: feed.stats.connected and all(ws.books[t].synced for t in open_tickers),
            "the books of the series to sync",
        )
        yield Live(feed, ws, rest, clock, open_tickers)
    finally:
        await feed.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner


async def test_book_update_shows_at_top_of_book_without_rest(
    dataset: Dataset, key: rsa.RSAPrivateKey
) -> None:
    async with _venue(dataset, key) as venue, _live_feed(venue, key) as live:
        feed = live.feed
        registry = CollectorRegistry()
        feed.register_metrics(registry)
        assert venue.event in feed.changed_events()  # the subscription's snapshots
        assert feed.changed_events() == set()  # and the set was cleared
        assert live.rest.calls == 1
        quoted = _one(await feed.markets(venue.series), venue.ticker)
        assert (quoted.yes_bid, quoted.yes_ask) == (venue.bid, venue.ask)
        assert live.rest.calls == 1  # served from the books

        price = PRICE
        await _bid(venue, price, 7, "feed-bid-1")
        assert await feed.wait_for_change(timeout=30.0)
        await until(lambda: live.ws.books[venue.ticker].best_yes_bid is not None, "a bid")
        await until(
            lambda: live.ws.books[venue.ticker].best_yes_bid.price == price,  # type: ignore[union-attr]
            "the new bid in the local book",
        )
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (price, Decimal(7))
        assert market.yes_ask == venue.ask
        assert market.no_ask == 1 - price
        assert live.rest.calls == 1  # no REST call: the WebSocket update was overlaid
        assert venue.event in feed.changed_events()
        rest = await _rest_top(venue)
        assert (rest.yes_bid, rest.yes_bid_size, rest.yes_ask) == (
            market.yes_bid,
            market.yes_bid_size,
            market.yes_ask,
        )
        assert feed.stats.rest_fallbacks == 0
        assert feed.stats.ws_updates >= len(live.open_tickers) + 1
        assert registry.get_sample_value("milkbot_market_feed_ws_updates_total") == float(
            feed.stats.ws_updates
        )
        assert registry.get_sample_value("milkbot_market_feed_rest_snapshots_total") == 1.0


async def test_stale_book_falls_back_to_rest_then_is_confirmed(
    dataset: Dataset, key: rsa.RSAPrivateKey
) -> None:
    async with (
        _venue(dataset, key) as venue,
        _live_feed(venue, key, stale_after=timedelta(minutes=5)) as live,
    ):
        feed = live.feed
        live.clock.advance(timedelta(minutes=6))  # no book update since: stale
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert live.rest.calls == 2
        assert feed.stats.rest_fallbacks == 1
        assert feed.stats.last_fallback_reason == "stale book"
        assert (market.yes_bid, market.yes_ask) == (venue.bid, venue.ask)
        # REST agreed with every book, which confirms them: the next call uses the books.
        again = _one(await feed.markets(venue.series), venue.ticker)
        assert (again.yes_bid, again.yes_ask) == (venue.bid, venue.ask)
        assert live.rest.calls == 2


async def test_book_contradicted_by_rest_is_not_used_until_resynced(
    dataset: Dataset, key: rsa.RSAPrivateKey
) -> None:
    async with (
        _venue(dataset, key) as venue,
        _live_feed(venue, key, rest_interval=timedelta(minutes=10)) as live,
    ):
        feed = live.feed
        # The delta of this order is lost on the wire: the local book cannot know.
        venue.state.faults.config = FaultConfig(ws_seq_gap_rate=1.0)
        await _bid(venue, PRICE, 4, "feed-gap-1")
        live.clock.advance(timedelta(minutes=11))  # the scheduled REST snapshot is due
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (PRICE, Decimal(4))  # REST, not the book
        assert feed.stats.mismatches == 1
        assert live.ws.books[venue.ticker].best_yes_bid is None  # the book did miss it
        calls = live.rest.calls
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (PRICE, Decimal(4))
        assert live.rest.calls == calls + 1
        assert feed.stats.last_fallback_reason == "book contradicted by REST"

        # The next frame reveals the gap: the client resyncs and the book is used again.
        venue.state.faults.config = FaultConfig()
        better = PRICE + CENT
        await _bid(venue, better, 2, "feed-gap-2")
        await until(lambda: feed.stats.resyncs >= 1, "the resync")
        await until(
            lambda: (
                live.ws.books[venue.ticker].synced
                and live.ws.books[venue.ticker].best_yes_bid is not None
            ),
            "the fresh snapshot",
        )
        calls = live.rest.calls
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (better, Decimal(2))
        assert live.rest.calls == calls


async def test_falls_back_to_rest_while_the_websocket_is_down(
    dataset: Dataset, key: rsa.RSAPrivateKey
) -> None:
    reconnect = asyncio.Event()

    async def gated_sleep(_seconds: float) -> None:
        await reconnect.wait()

    async with (
        _venue(dataset, key) as venue,
        _live_feed(venue, key, sleep=gated_sleep) as live,
    ):
        feed = live.feed
        # The exchange drops the connection instead of sending the next data frame.
        venue.state.faults.config = FaultConfig(ws_drop_rate=1.0)
        price = PRICE
        await _bid(venue, price, 4, "feed-drop-1")
        await until(lambda: feed.stats.disconnects >= 1, "the dropped connection")
        calls = live.rest.calls
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size, market.yes_ask) == (
            price,
            Decimal(4),
            venue.ask,
        )
        assert live.rest.calls == calls + 1
        assert feed.stats.rest_fallbacks == 1
        assert feed.stats.last_fallback_reason == "disconnected"
        better = price + CENT
        await _bid(venue, better, 2, "feed-drop-2")
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (better, Decimal(2))
        assert feed.stats.rest_fallbacks == 2  # every call while down goes to REST

        # Back up: the client reconnects, resubscribes and the books are used again.
        venue.state.faults.config = FaultConfig()
        reconnect.set()
        await until(
            lambda: (
                feed.stats.connected and all(live.ws.books[t].synced for t in live.open_tickers)
            ),
            "the reconnection",
        )
        calls = live.rest.calls
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (better, Decimal(2))
        assert live.rest.calls == calls


async def test_closed_websocket_falls_back_to_rest(
    dataset: Dataset, key: rsa.RSAPrivateKey
) -> None:
    async with _venue(dataset, key) as venue, _live_feed(venue, key) as live:
        feed = live.feed
        await feed.close()
        await until(lambda: not live.ws.books[venue.ticker].synced, "the books to be dropped")
        price = PRICE
        await _bid(venue, price, 3, "feed-closed-1")
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (price, Decimal(3))
        assert live.rest.calls == 2
        assert feed.stats.rest_fallbacks == 1
        assert feed.stats.last_fallback_reason == "book not synced"


async def test_rest_only_feed(dataset: Dataset, key: rsa.RSAPrivateKey) -> None:
    async with _venue(dataset, key) as venue:
        rest = CountingClient(venue.client)
        feed = MarketFeed(rest, None, FixedClock(SIM_NOW), rest_interval=LONG, stale_after=LONG)
        await feed.run()  # nothing to run without a WebSocket
        first = await feed.markets(venue.series)
        direct = await venue.client.get_markets(series_ticker=venue.series)
        assert first == direct
        price = PRICE
        await _bid(venue, price, 5, "feed-rest-1")
        market = _one(await feed.markets(venue.series), venue.ticker)
        assert (market.yes_bid, market.yes_bid_size) == (price, Decimal(5))
        assert rest.calls == 2
        assert feed.stats.rest_fallbacks == 1
        assert feed.stats.last_fallback_reason == "no websocket"
        assert not await feed.wait_for_change(timeout=0.01)  # no book can change
        feed.mark_changed([venue.event])  # e.g. a new forecast
        assert await feed.wait_for_change(timeout=0.01)
        assert feed.changed_events() == {venue.event}
        assert feed.health()["websocket"] is False


async def test_tickers_listed_after_the_first_subscription_are_added_to_it(
    dataset: Dataset, key: rsa.RSAPrivateKey
) -> None:
    async with _venue(dataset, key) as venue, _live_feed(venue, key) as live:
        feed = live.feed
        other = next(
            info.series_ticker
            for t, info in sorted(venue.state.infos.items())
            if info.series_ticker != venue.series
            and venue.state.engine.markets[t].status is MarketStatus.ACTIVE
        )
        listed = [m.ticker for m in await feed.markets(other) if m.is_tradable]
        await feed.wait_for_change(timeout=0.0)  # adds them to the live subscription
        await until(
            lambda: all(t in live.ws.books and live.ws.books[t].synced for t in listed),
            "the added books to sync",
        )
        assert feed.stats.uncovered_tickers == 0
        assert feed.stats.subscribed_tickers == len(live.open_tickers) + len(listed)
        assert live.ws.connections == 1 and live.ws.resyncs == 0
        calls = live.rest.calls
        await feed.markets(other)
        await feed.markets(venue.series)
        assert live.rest.calls == calls  # both series now come from the books
