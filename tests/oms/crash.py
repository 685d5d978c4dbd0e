"""The crash harness: kill a trading process with SIGKILL at random points, restart, verify.

Shared by ``tests/oms/test_crash.py`` (50 trials per variant in CI) and
``bench/bench_crash.py`` (a longer run). The local exchange runs in this process (a thread),
replaying the bundled real tape on an accelerated clock so resting orders fill while the
worker is dead; the worker is ``tests/oms/crash_worker.py`` in a child process.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot import bundled
from milkbot.clock import AcceleratedClock, FixedClock
from milkbot.datasets import load_dataset
from milkbot.launcher import demo_key
from milkbot.oms.manager import OrderManager, fill_key
from milkbot.oms.reconcile import Reconciler
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import Fill, Order
from milkbot.venues.exchange.faults import FaultConfig, FaultInjector
from milkbot.venues.exchange.server import KeyRegistry, build_state, create_app
from milkbot.venues.kalshi.auth import KalshiAuth, load_private_key
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.ratelimit import RateLimits
from tests.oms.crash_worker import KEY_ID, SIM_NOW
from tests.servers import ThreadedServer

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CrashResult:
    """What the trials left behind, compared with the exchange."""

    trials: int
    venue_orders: int
    local_orders: int
    fills: int
    duplicate_orders: int
    lost_orders: int
    lost_fills: int
    extra_fills: int
    position_mismatches: list[str] = field(default_factory=list)
    in_flight_after: int = 0
    final_mismatches: list[str] = field(default_factory=list)
    worker_errors: int = 0
    seconds: float = 0.0


def run_crash_trials(
    folder: Path,
    *,
    trials: int,
    faults: FaultConfig | None = None,
    seed: int = 0,
    speed: float = 60.0,
    kill_window: tuple[float, float] = (0.5, 4.0),
) -> CrashResult:
    """Run ``trials`` kill/restart cycles and compare the local books with the exchange."""
    started = time.monotonic()
    rng = random.Random(seed)
    key_path, _ = demo_key(folder)
    key = load_private_key(key_path)
    settings = Settings(data_dir=folder / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    dataset = load_dataset([bundled.path("kalshi-tape-demo")])
    state = build_state(dataset, FixedClock(SIM_NOW), keys=KeyRegistry({KEY_ID: key.public_key()}))
    state.tick()
    state.engine.clock = AcceleratedClock(SIM_NOW, speed)
    state.faults = FaultInjector(faults or FaultConfig())
    errors = 0
    with ThreadedServer(create_app(state, tick_seconds=0.05)) as server:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        cmd = [
            sys.executable,
            "-m",
            "tests.oms.crash_worker",
            server.url,
            str(settings.data_dir),
            str(key_path),
            str(seed),
        ]
        for _ in range(trials):
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            time.sleep(rng.uniform(*kill_window))
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
            text = out.decode(errors="replace")
            errors += text.count("Traceback")
        state.faults = FaultInjector(FaultConfig())
        # Stop the market: resting orders would otherwise keep filling from the replayed tape
        # between the final reconciliation and the comparison, and the two would disagree.
        state.engine.clock = FixedClock(state.engine.clock.now())
        time.sleep(0.5)  # the server's last replay tick (every 0.05 s) reaches the frozen time
        result = asyncio.run(_verify(server.url, key, settings, trials))
    result.worker_errors = errors
    result.seconds = time.monotonic() - started
    return result


async def _verify(url: str, key: rsa.RSAPrivateKey, settings: Settings, trials: int) -> CrashResult:
    from sqlalchemy import select

    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    async with KalshiClient(
        f"{url}/trade-api/v2",
        auth=KalshiAuth(KEY_ID, key),
        rate_limits=RateLimits(read_per_second=1e5, write_per_second=1e5),
    ) as client:
        manager = OrderManager(client, sessions, FixedClock(SIM_NOW))
        report = await Reconciler(manager, client, sessions, FixedClock(SIM_NOW)).run()
        venue_orders = await client.get_orders()
        venue_fills = await client.get_fills()
        venue_positions = {p.ticker: p.position for p in await client.get_positions()}
        local_positions = await manager.positions()
        async with sessions() as s:
            local_orders = list(await s.scalars(select(Order)))
            local_fill_keys = set(await s.scalars(select(Fill.venue_fill_id)))
    await engine.dispose()
    coids = [o.client_order_id for o in venue_orders]
    known = {o.client_order_id for o in local_orders}
    venue_keys = {fill_key(f) for f in venue_fills}
    mismatches = [
        f"{t}: local {local_positions.get(t, 0)} venue {venue_positions.get(t, 0)}"
        for t in sorted(set(local_positions) | set(venue_positions))
        if local_positions.get(t, 0) != venue_positions.get(t, 0)
    ]
    return CrashResult(
        trials=trials,
        venue_orders=len(venue_orders),
        local_orders=len(local_orders),
        fills=len(venue_fills),
        duplicate_orders=len(coids) - len(set(coids)),
        lost_orders=sum(1 for c in coids if c not in known),
        lost_fills=len(venue_keys - local_fill_keys),
        extra_fills=len(local_fill_keys - venue_keys),
        position_mismatches=mismatches,
        in_flight_after=sum(1 for o in manager.open_orders if o.state.in_flight),
        final_mismatches=report.mismatches,
    )
