"""``milkbot trader``: run the private Trader service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from milkbot.errors import ConfigError, StorageError
from milkbot.logging import configure_logging, get_logger
from milkbot.settings import Settings, load_settings

if TYPE_CHECKING:
    from milkbot.trader.clocks import ExchangeClock
    from milkbot.trader.export import Exporter
    from milkbot.trader.service import Trader

log = get_logger(__name__)


async def run_trader(
    settings: Settings,
    *,
    demo: bool,
    poll_seconds: float,
    live: bool = False,
    cancel_on_exit: bool = True,
) -> None:
    """Wire the trader's parts, hold the lock, and run until SIGINT/SIGTERM.

    With a Kalshi key configured the trader trades (the local exchange in demo, Kalshi's
    demo or production with ``live``); without one it only watches and exports.
    """
    from milkbot import bundled
    from milkbot.clock import Clock, SystemClock
    from milkbot.store.engine import create_trading_engine, session_factory
    from milkbot.store.migrate import current_revision, head_revision
    from milkbot.trader.clocks import ExchangeClock
    from milkbot.trader.desk import TradingDesk
    from milkbot.trader.export import Exporter
    from milkbot.trader.fees import SeriesFees
    from milkbot.trader.lock import TraderLock
    from milkbot.trader.market_feed import MarketFeed
    from milkbot.trader.service import Trader
    from milkbot.trader.weather_feed import HourlyTemperatures, LiveWeather, WeatherSource
    from milkbot.venues.kalshi.client import KalshiClient
    from milkbot.venues.kalshi.factory import auth_from_settings, websocket_from_settings
    from milkbot.venues.kalshi.websocket import WsEvent

    auth = auth_from_settings(settings)
    if settings.venue != "local" and auth is not None and not (live and settings.live_trading):
        raise ConfigError(
            f"refusing to trade on Kalshi {settings.venue} without both `--live` and "
            "MILKBOT_LIVE_TRADING=true"
        )
    if current_revision(settings) != head_revision():
        raise StorageError("the database is not migrated: run `milkbot db upgrade` first")
    engine = create_trading_engine(settings)
    lock = TraderLock(settings.data_dir / "trader.lock", engine)
    await lock.acquire()
    stop = _stop_on_signals()
    mode = "demo" if demo else settings.venue
    clock: Clock
    if settings.venue == "local":
        root = settings.exchange_url.split("/trade-api", 1)[0]
        exchange_clock = ExchangeClock(f"{root}/health")
        for _ in range(60):
            with contextlib.suppress(Exception):
                await exchange_clock.sync()
                break
            await asyncio.sleep(0.5)
        clock = exchange_clock
    else:
        exchange_clock = None
        clock = SystemClock()
    sessions = session_factory(engine)
    exporter = Exporter(sessions)
    live_weather = None if demo else LiveWeather.from_settings(settings, clock=clock)
    weather: WeatherSource = live_weather or HourlyTemperatures(
        bundled.path("openmeteo-hourly-demo")
    )
    client = KalshiClient(settings.exchange_url, auth=auth)
    desk = None
    if auth is not None:
        fees = SeriesFees(client, clock)
        desk = TradingDesk.on_venue(
            client, sessions=sessions, clock=clock, exporter=exporter, fees=fees
        )
    feed: MarketFeed | None = None

    def on_stream(event: WsEvent) -> None:
        if feed is not None:
            feed.on_event(event)

    if auth is not None:
        # Books stream over the WebSocket; REST gives status, listings, results and the
        # fallback. Intervals run on the trader's clock (accelerated in the demo).
        feed = MarketFeed(
            client,
            websocket_from_settings(settings, on_event=on_stream),
            clock,
            rest_interval=timedelta(minutes=30) if demo else timedelta(seconds=30),
            stale_after=timedelta(hours=2) if demo else timedelta(seconds=60),
        )
    trader = Trader(
        mode=mode,
        client=client,
        clock=clock,
        sessions=sessions,
        exporter=exporter,
        weather=weather,
        desk=desk,
        require_reconciled=live,
        feed=feed,
    )
    if feed is not None:
        feed.register_metrics(trader.registry)

    try:
        await _serve(
            settings,
            mode=mode,
            trader=trader,
            exporter=exporter,
            stop=stop,
            poll_seconds=poll_seconds,
            exchange_clock=exchange_clock,
        )
    finally:
        if desk is not None and cancel_on_exit:
            await desk.cancel_all("shutdown")
        await client.aclose()
        if live_weather is not None:
            await live_weather.aclose()
        await lock.release()
        await engine.dispose()
        log.info("trader_stopped", exported=exporter.exported, dropped=exporter.dropped)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve(
    settings: Settings,
    *,
    mode: str,
    trader: Trader,
    exporter: Exporter,
    stop: asyncio.Event,
    poll_seconds: float,
    exchange_clock: ExchangeClock | None = None,
) -> None:
    """Run the trader's loop and its localhost ``/health`` and ``/metrics`` until ``stop``."""
    import uvicorn

    from milkbot.trader.health import health_app

    desk = trader.desk

    def status() -> dict[str, Any]:
        s = trader.stats
        return {
            "healthy": s.steps > 0 and not stop.is_set(),
            "mode": mode,
            "clock": s.last_step_at.isoformat() if s.last_step_at else None,
            "steps": s.steps,
            "step_errors": s.step_errors,
            "last_error": s.last_error,
            "markets_seen": s.markets_seen,
            "snapshots": s.snapshots,
            "settlements": s.settlements,
            "cities_with_events": s.cities_with_events,
            "exported_rows": exporter.exported,
            "dropped_rows": exporter.dropped,
            "trading": None if desk is None else asdict(desk.stats),
            "market_feed": None if trader.feed is None else trader.feed.health(),
        }

    server = uvicorn.Server(
        uvicorn.Config(
            health_app(status, trader.registry),
            host="127.0.0.1",
            port=settings.trader_health_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )

    async def resync_clock() -> None:
        while exchange_clock is not None and not stop.is_set():
            with contextlib.suppress(Exception):
                await exchange_clock.sync()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5.0)

    log.info(
        "trader_started",
        mode=mode,
        exchange=settings.exchange_url,
        health_port=settings.trader_health_port,
    )

    async def stream_books() -> None:
        # A failing WebSocket must not stop trading: the feed falls back to REST.
        if trader.feed is None:
            return
        try:
            await trader.feed.run()
        except Exception as e:
            log.error("alert_market_stream_stopped", error=str(e))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(trader.run(stop, poll_seconds=poll_seconds))
        tg.create_task(resync_clock())
        streaming = tg.create_task(stream_books())
        serving = tg.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await serving
        if trader.feed is not None:
            await trader.feed.close()
        streaming.cancel()


async def run_paper(
    settings: Settings, *, poll_seconds: float, database_url: str | None = None
) -> None:
    """Paper trading: live public Kalshi data and NWS, simulated fills, its own database."""
    from milkbot.clock import SystemClock
    from milkbot.store.engine import create_trading_engine
    from milkbot.store.migrate import upgrade
    from milkbot.trader.lock import TraderLock
    from milkbot.trader.paper import build_paper, paper_settings

    settings = paper_settings(settings, database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    revision = upgrade(settings)
    log.info("paper_database", revision=revision, url=settings.trading_url.split("@")[-1])
    engine = create_trading_engine(settings)
    lock = TraderLock(settings.data_dir / "trader.lock", engine)
    await lock.acquire()
    stop = _stop_on_signals()
    paper = build_paper(settings, engine, clock=SystemClock())
    try:
        await _serve(
            settings,
            mode="paper",
            trader=paper.trader,
            exporter=paper.exporter,
            stop=stop,
            poll_seconds=poll_seconds,
        )
    finally:
        await paper.aclose()
        await lock.release()
        await engine.dispose()
        log.info("paper_stopped", exported=paper.exporter.exported)


def register(app: typer.Typer) -> None:
    """Add the ``trader`` and ``paper`` commands."""

    @app.command("paper")
    def paper(
        poll_seconds: Annotated[float, typer.Option(help="Seconds between steps.")] = 10.0,
        database_url: Annotated[
            str | None,
            typer.Option(help="Paper database (default: SQLite under <data_dir>/paper)."),
        ] = None,
    ) -> None:
        """Paper trading: live Kalshi market data and NWS, simulated fills, no key needed."""
        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format, service="paper")
        asyncio.run(run_paper(settings, poll_seconds=poll_seconds, database_url=database_url))

    @app.command("export-dataset")
    def export_dataset(
        out: Annotated[Path, typer.Option("--out", help="New directory for the dataset.")],
        paper: Annotated[
            bool, typer.Option("--paper", help="Export the paper trader's database.")
        ] = False,
        database_url: Annotated[
            str | None, typer.Option(help="The trading database (default: the settings').")
        ] = None,
        since: Annotated[
            datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First event day.")
        ] = None,
        until: Annotated[
            datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last event day.")
        ] = None,
    ) -> None:
        """Write what the trader recorded (quotes, forecast issues, results) as a dataset
        that ``milkbot evaluate`` and ``milkbot backtest`` read."""
        from milkbot.clock import SystemClock
        from milkbot.store.engine import create_trading_sync_engine
        from milkbot.store.migrate import current_revision, head_revision
        from milkbot.trader.paper import paper_settings
        from milkbot.trader.recording import export_recording

        settings = load_settings()
        if paper:
            settings = paper_settings(settings, database_url)
        elif database_url is not None:
            settings = settings.model_copy(update={"database_url": database_url})
        at, head = current_revision(settings), head_revision()
        if at != head:
            raise typer.BadParameter(
                f"the trading database is at revision {at or 'none (no trader has run)'}, "
                f"this version reads {head}: start the trader or run `milkbot db upgrade`",
                param_hint="--database-url",
            )
        engine = create_trading_sync_engine(settings)
        try:
            summary = export_recording(
                engine,
                out,
                since=None if since is None else since.date(),
                until=None if until is None else until.date(),
                now=SystemClock().now(),
            )
        except ConfigError as e:
            raise typer.BadParameter(str(e), param_hint="--out") from None
        finally:
            engine.dispose()
        typer.echo(
            f"wrote {out}: {summary.events} events, {summary.markets} markets, "
            f"{summary.quotes} quote rows, {summary.forecasts} forecast issues "
            f"({summary.skipped_markets} markets left out; see {out / 'README.md'})"
        )

    @app.command("trader")
    def trader(
        demo: Annotated[
            bool, typer.Option(help="Demo mode: local exchange, bundled data.")
        ] = False,
        poll_seconds: Annotated[float, typer.Option(help="Seconds between steps.")] = 2.0,
        live: Annotated[
            bool, typer.Option("--live", help="Trade on Kalshi demo/prod (needs a key).")
        ] = False,
        cancel_on_exit: Annotated[
            bool, typer.Option(help="Cancel resting orders on a clean shutdown.")
        ] = True,
    ) -> None:
        """Run the private Trader service (market data, decisions, orders, export)."""
        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format, service="trader")
        asyncio.run(
            run_trader(
                settings,
                demo=demo,
                poll_seconds=poll_seconds,
                live=live,
                cancel_on_exit=cancel_on_exit,
            )
        )
