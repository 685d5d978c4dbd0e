"""Trader benchmarks: tick-to-order latency and the trader's resident memory.

1. Tick-to-order: a book change of one event goes in (a new top of book for its markets);
   the time until the OMS hands the order request to the venue is measured. The path is the
   trader's own: live features -> ensemble -> risk plan -> OMS (intent, order and audit rows
   written to a real SQLite database before sending). The venue is an in-process recorder,
   so the network is not part of the figure. Books are synthetic (every bracket quoted at
   0.09/0.11 so the sizer finds an edge on each tick); the event structure, stations,
   strategies, parameters and risk limits are the product's.
2. Memory: ``milkbot demo`` runs (local exchange replaying the bundled real tape, the trader
   polling all 10 registered cities and trading the 5 with data); the trader's VmRSS is
   sampled from /proc while it trades.

Run: ``python bench/bench_trader.py [TICKS] [SECONDS]`` (defaults 300 ticks, 60 s).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.decision import BookTop, decide
from milkbot.domain.fees import FeeModel
from milkbot.domain.portfolio import OrderAck, OrderRequest
from milkbot.domain.stations import STATIONS
from milkbot.features.event import EventFeatures, ForecastInput, MarketPrice, synthetic_brackets
from milkbot.oms.manager import OrderManager
from milkbot.risk.engine import RiskEngine
from milkbot.risk.exposure import PortfolioState
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.strategies.factory import build_ensemble

T0 = datetime(2025, 4, 6, 15, 0, tzinfo=UTC)


class RecordingVenue:
    """Acknowledges every order and records when the request reached it."""

    def __init__(self) -> None:
        self.sent_at: list[float] = []

    async def create_order(self, req: OrderRequest, **_: object) -> OrderAck:
        self.sent_at.append(time.perf_counter())
        return OrderAck(f"v-{req.client_order_id}", req.client_order_id, Decimal(0), req.count, T0)


async def tick_to_order(ticks: int) -> list[float]:
    """Latency (ms) from a book change to the first order request it causes."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        upgrade(settings)
        engine = create_trading_engine(settings)
        venue = RecordingVenue()
        clock = FixedClock(T0)
        manager = OrderManager(venue, session_factory(engine), clock)  # type: ignore[arg-type]
        ensemble = build_ensemble()
        risk = RiskEngine.create()
        brackets = synthetic_brackets(60)
        out: list[float] = []
        for i in range(ticks):
            station = STATIONS[i % len(STATIONS)]
            if i:
                clock.advance(timedelta(minutes=15))
            now = clock.now()
            event = f"{station.series}-25APR06"
            tickers = tuple(f"{event}-B{j}" for j in range(len(brackets)))
            features = EventFeatures(
                event_ticker=event,
                city=station.city,
                station=station.icao,
                event_date=now.date(),
                decision_time=now,
                close_time=now + timedelta(hours=10),
                std_offset_hours=station.std_offset_hours,
                tickers=tickers,
                brackets=brackets,
                market=tuple(MarketPrice(0.10, True, "quote", 0.0) for _ in tickers),
                forecasts=(ForecastInput("nws", now - timedelta(hours=1), 61.0, None, 10.0),),
            )
            books = {
                t: BookTop(Decimal("0.09"), Decimal("0.11"), Decimal(500), Decimal(500), now)
                for t in tickers
            }
            portfolio = PortfolioState.build(
                {}, {}, {}, equity=Decimal(1000), high_water_mark=Decimal(1000)
            )
            start = time.perf_counter()
            n = len(venue.sent_at)
            decision = decide(
                features,
                ensemble,
                books,
                FeeModel(),
                risk,
                portfolio,
                clock,
                strategy_run="bench",
                holdings={},
            )
            if decision is None:
                continue
            for approved in decision.approved:
                await manager.submit(
                    approved,
                    strategy_run="bench",
                    slot=decision.slot,
                    reason="bench",
                    audit={"strategy": decision.strategy_audit()},
                )
                break  # the first order of the tick
            if len(venue.sent_at) > n:
                out.append((venue.sent_at[n] - start) * 1000)
        await engine.dispose()
        return out


def demo_rss(seconds: float) -> list[int]:
    """VmRSS samples (kB) of the demo's trader process while it trades."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MILKBOT_DATA_DIR=str(Path(tmp) / "var"))
        for var, port in (
            ("MILKBOT_EXCHANGE_PORT", 8190),
            ("MILKBOT_API_PORT", 8090),
            ("MILKBOT_DASHBOARD_PORT", 8590),
            ("MILKBOT_TRADER_HEALTH_PORT", 9190),
        ):
            env[var] = str(port)
        proc = subprocess.Popen(
            [sys.executable, "-m", "milkbot", "demo", "--exit-after", str(seconds + 30)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pid = None
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"trader\s+pid (\d+)", line)
            if m:
                pid = int(m.group(1))
                break
        samples: list[int] = []
        deadline = time.monotonic() + seconds
        while pid is not None and time.monotonic() < deadline:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                break
            m = re.search(r"VmRSS:\s+(\d+) kB", status)
            if m:
                samples.append(int(m.group(1)))
            time.sleep(1)
        proc.wait(timeout=seconds + 120)
        return samples


def main() -> None:
    """Print both figures."""
    ticks = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    _ = load_dataset([bundled.path("kalshi-tape-demo")])  # warm imports outside the timing
    lat = asyncio.run(tick_to_order(ticks))
    if not lat:
        raise SystemExit("no tick produced an order")
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(
        f"tick-to-order over {len(lat)} ticks with an order: "
        f"p50 {statistics.median(lat):.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms"
    )
    rss = demo_rss(seconds)
    if rss:
        print(
            f"trader RSS over {len(rss)} samples in {seconds:.0f} s of `milkbot demo`: "
            f"median {statistics.median(rss) / 1024:.0f} MiB, max {max(rss) / 1024:.0f} MiB"
        )


if __name__ == "__main__":
    main()
