"""``milkbot trader``: run the private Trader service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import asdict
from typing import Annotated, Any

import typer

from milkbot.errors import ConfigError, StorageError
from milkbot.logging import configure_logging, get_logger
from milkbot.settings import Settings, load_settings

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
    import uvicorn

    from milkbot import bundled
    from milkbot.clock import Clock, SystemClock
    from milkbot.oms.manager import OrderManager
    from milkbot.risk.engine import RiskEngine
    from milkbot.store.engine import create_trading_engine, session_factory
    from milkbot.store.migrate import current_revision, head_revision
    from milkbot.strategies.factory import build_ensemble
    from milkbot.trader.clocks import ExchangeClock
    from milkbot.trader.desk import TradingDesk
    from milkbot.trader.export import Exporter
    from milkbot.trader.health import health_app
    from milkbot.trader.lock import TraderLock
    from milkbot.trader.service import Trader
    from milkbot.trader.weather_feed import HourlyTemperatures
    from milkbot.venues.kalshi.client import KalshiClient
    from milkbot.venues.kalshi.factory import auth_from_settings

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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
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
    weather = HourlyTemperatures(bundled.path("openmeteo-hourly-demo")) if demo else None
    client = KalshiClient(settings.exchange_url, auth=auth)
    desk = None
    if auth is not None:
        desk = TradingDesk(
            venue=client,
            manager=OrderManager(client, sessions, clock),
            risk=RiskEngine.create(),
            ensemble=build_ensemble(),
            sessions=sessions,
            clock=clock,
            exporter=exporter,
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
    )

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
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(trader.run(stop, poll_seconds=poll_seconds))
            tg.create_task(resync_clock())
            serving = tg.create_task(server.serve())
            await stop.wait()
            server.should_exit = True
            await serving
    finally:
        if desk is not None and cancel_on_exit:
            await desk.cancel_all("shutdown")
        await client.aclose()
        await lock.release()
        await engine.dispose()
        log.info("trader_stopped", exported=exporter.exported, dropped=exporter.dropped)


def register(app: typer.Typer) -> None:
    """Add the ``trader`` command."""

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
