"""Benchmark the Analytics API: ``/v1/cities`` under concurrent load from a second process.

Seeds a SQLite read model with benchmark volume (synthetic values, realistic shape and size:
the 10 registered cities, ``--days`` days of six-bracket quotes and weather readings every
minute, five strategies' forecasts every 15 minutes, trades, equity every minute, settled
events), starts the real API (``milkbot api``, uvicorn, wall clock) as a subprocess on a free
loopback port, and drives it from this process with ``--concurrency`` httpx clients for
``--seconds`` seconds (bounded by ``--max-requests``). Two phases:

* ``cached``: every client asks for ``/v1/cities`` as the dashboard does; the API serves
  its TTL cache and renders from the database about once a second (its cutoff moves with the
  wall clock).
* ``uncached``: every request carries a distinct query string, so every one is rendered from
  the database (the worst case).

For each phase it prints requests/s, latency p50/p99, the database statements/s and
renders/s the server counted (``milkbot_api_db_queries_total`` and
``milkbot_api_db_renders_total`` from ``/metrics``), and the server's CPU time per request
(from ``/proc``; on a shared machine the throughput varies with the other load, the CPU
time per request much less).

    .venv/bin/python bench/bench_api.py [--concurrency 16] [--seconds 20] [--days 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from milkbot.domain.stations import STATIONS
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from milkbot.store.models import (
    BracketQuote,
    EquityPoint,
    PublicSettlement,
    PublicTrade,
    StrategyForecast,
    WeatherReading,
)

STRATEGIES = ("ensemble", "nws_gaussian", "emos_members", "market_prior", "bracket_prior")
FORECAST_EVERY_MINUTES = 15
TRADES_PER_CITY_DAY = 12
BATCH = 20_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _brackets(center: int) -> list[tuple[str, int | None, int | None]]:
    """Six Kalshi-style brackets around ``center``: two tails and four 2 °F bins."""
    lo = center - 4
    out: list[tuple[str, int | None, int | None]] = [(f"{lo - 1}° or below", None, lo - 1)]
    for k in range(4):
        a = lo + 2 * k
        out.append((f"{a}° to {a + 1}°", a, a + 1))
    out.append((f"{lo + 8}° or above", lo + 8, None))
    return out


def _probs(rng: np.random.Generator, mean: float, spread: float, center: int) -> np.ndarray:
    """Bracket probabilities of a normal forecast of the high (plus a little noise)."""
    edges = [center - 4.5 + 2 * k for k in range(5)]
    cdf = [0.5 * (1 + math.erf((e - mean) / (spread * math.sqrt(2)))) for e in edges]
    p = np.diff(np.array([0.0, *cdf, 1.0])) + rng.uniform(0, 0.01, 6)
    return np.asarray(p / p.sum())


@dataclass(frozen=True)
class Volume:
    """Rows written per table."""

    quotes: int
    weather: int
    forecasts: int
    trades: int
    equity: int
    settlements: int


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), BATCH):
        yield rows[i : i + BATCH]


def seed(settings: Settings, days: int, end: datetime, rng: np.random.Generator) -> Volume:
    """Write the benchmark read model; the last minute of data is ``end``."""
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    start = (end - timedelta(days=days)).replace(second=0, microsecond=0)
    minutes = int((end - start).total_seconds() // 60)
    counts = dict.fromkeys(("quotes", "weather", "forecasts", "trades", "settlements"), 0)
    with Session(engine) as s:
        for station in STATIONS:
            quotes: list[dict[str, Any]] = []
            weather: list[dict[str, Any]] = []
            forecasts: list[dict[str, Any]] = []
            trades: list[dict[str, Any]] = []
            settlements: list[dict[str, Any]] = []
            first_day = start.date()
            for d in range(days + 1):
                day = first_day + timedelta(days=d)
                midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
                center = int(rng.integers(40, 90))
                high = center + float(rng.normal(0, 3))
                brackets = _brackets(center)
                event = f"{station.series}-{day:%y%b%d}".upper()
                observed = high - 15.0
                for m in range(1440):
                    ts = midnight + timedelta(minutes=m)
                    if ts < start:
                        continue
                    if ts > end:
                        break
                    hour = m / 60
                    observed = max(observed, high - 15 + 15 * min(1.0, hour / 20))
                    market = _probs(rng, high + rng.normal(0, 1.0), 2.5 - hour / 12, center)
                    model = _probs(rng, high + rng.normal(0, 0.8), 2.3 - hour / 12, center)
                    for i, (label, lo, hi) in enumerate(brackets):
                        quotes.append(
                            {
                                "ts": ts,
                                "city": station.city,
                                "event_ticker": event,
                                "event_date": day,
                                "market_ticker": f"{event}-{i}",
                                "bracket": label,
                                "bracket_low": lo,
                                "bracket_high": hi,
                                "market_prob": float(market[i]),
                                "model_prob": float(model[i]),
                            }
                        )
                    weather.append(
                        {
                            "ts": ts,
                            "city": station.city,
                            "event_date": day,
                            "forecast_high_f": round(high + rng.normal(0, 1), 1),
                            "observed_max_f": round(observed),
                            "source": "bench",
                        }
                    )
                    if m % FORECAST_EVERY_MINUTES == 0:
                        for strategy in STRATEGIES:
                            p = _probs(rng, high + rng.normal(0, 1.5), 2.5, center)
                            forecasts += [
                                {
                                    "ts": ts,
                                    "city": station.city,
                                    "event_ticker": event,
                                    "event_date": day,
                                    "market_ticker": f"{event}-{i}",
                                    "bracket": label,
                                    "strategy": strategy,
                                    "prob": float(p[i]),
                                }
                                for i, (label, _lo, _hi) in enumerate(brackets)
                            ]
                    if rng.random() < TRADES_PER_CITY_DAY / 1440:
                        i = int(rng.integers(0, 6))
                        trades.append(
                            {
                                "ts": ts,
                                "city": station.city,
                                "event_date": day,
                                "market_ticker": f"{event}-{i}",
                                "bracket": brackets[i][0],
                                "side": "yes" if rng.random() < 0.5 else "no",
                                "action": "buy",
                                "price": Decimal(int(rng.integers(5, 95))) / 100,
                                "count": Decimal(int(rng.integers(1, 20))),
                                "fee": Decimal("0.07"),
                                "strategy": "ensemble",
                                "model_prob": float(model[i]),
                            }
                        )
                settled_at = midnight + timedelta(days=1, hours=8)
                if settled_at <= end:
                    settlements.append(
                        _settlement(
                            station.city,
                            event,
                            day,
                            high,
                            settled_at,
                            _winner(brackets, round(high)),
                        )
                    )
            for model_cls, rows, name in (
                (BracketQuote, quotes, "quotes"),
                (WeatherReading, weather, "weather"),
                (StrategyForecast, forecasts, "forecasts"),
                (PublicTrade, trades, "trades"),
                (PublicSettlement, settlements, "settlements"),
            ):
                for chunk in _chunks(rows):
                    s.execute(insert(model_cls), chunk)
                counts[name] += len(rows)
            s.commit()
        equity = [
            {
                "ts": start + timedelta(minutes=m),
                "realized_pnl": Decimal(m // 60) / 10,
                "unrealized_pnl": Decimal(int(rng.integers(-50, 50))) / 10,
                "fees": Decimal(m // 60) / 100,
            }
            for m in range(minutes + 1)
        ]
        for chunk in _chunks(equity):
            s.execute(insert(EquityPoint), chunk)
        s.commit()
    engine.dispose()
    return Volume(equity=len(equity), **counts)


def _winner(brackets: list[tuple[str, int | None, int | None]], value: int) -> str:
    for label, lo, hi in brackets:
        if (lo is None or value >= lo) and (hi is None or value <= hi):
            return label
    raise AssertionError("brackets partition the integers")


def _settlement(
    city: str, event: str, day: date, high: float, ts: datetime, winner: str
) -> dict[str, Any]:
    return {
        "ts": ts,
        "city": city,
        "event_ticker": event,
        "event_date": day,
        "settled_value_f": round(high),
        "winning_bracket": winner,
        "pnl": Decimal("1.25"),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _counter(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


@dataclass(frozen=True)
class Result:
    """One load phase."""

    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    db_queries: float
    renders: float
    server_cpu: float
    client_cpu: float


async def load(
    base: str,
    path: str,
    concurrency: int,
    seconds: float,
    max_requests: int,
    bust: bool,
    server_pid: int,
) -> Result:
    """``concurrency`` clients GET ``path`` until the time or request bound."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        before = (await http.get("/metrics")).text
        cpu_before = _cpu_seconds(server_pid)
        client_before = time.process_time()
        started = time.perf_counter()
        deadline = started + seconds

        async def client() -> None:
            nonlocal errors, sent
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                url = f"{path}?n={sent}" if bust else path
                t0 = time.perf_counter()
                r = await http.get(url)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(server_pid) - cpu_before
        client_cpu = time.process_time() - client_before
        after = (await http.get("/metrics")).text
    queries = _counter(after, "milkbot_api_db_queries_total") - _counter(
        before, "milkbot_api_db_queries_total"
    )
    renders = _counter(after, "milkbot_api_db_renders_total") - _counter(
        before, "milkbot_api_db_renders_total"
    )
    return Result(len(latencies), errors, elapsed, latencies, queries, renders, cpu, client_cpu)


def _report(name: str, r: Result, concurrency: int) -> None:
    ms = [1000 * x for x in r.latencies]
    print(
        f"{name}: {r.requests} requests ({r.errors} errors) in {r.seconds:.1f} s, "
        f"concurrency {concurrency} -> {r.requests / r.seconds:.0f} requests/s; "
        f"latency ms p50 {statistics.median(ms):.1f}, p99 {_pct(ms, 0.99):.1f}"
    )
    print(
        f"  database: {r.db_queries / r.seconds:.1f} statements/s, "
        f"{r.renders / r.seconds:.2f} renders/s "
        f"({r.db_queries / max(r.requests, 1):.3f} statements per request)"
    )
    print(
        f"  server CPU: {1000 * r.server_cpu / max(r.requests, 1):.2f} ms per request "
        f"({r.server_cpu / r.seconds:.0%} of a core) -> "
        f"{r.requests / max(r.server_cpu, 1e-9):.0f} requests per server CPU-second; "
        f"load generator {r.client_cpu / r.seconds:.0%} of a core"
    )


def main() -> None:
    """Seed, serve, load, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per phase")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--path", default="/v1/cities")
    args = parser.parse_args()
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    rng = np.random.default_rng(20261124)
    with tempfile.TemporaryDirectory(prefix="milkbot-bench-api-") as tmp:
        data_dir = Path(tmp) / "var"
        settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg, unused-ignore]
        t0 = time.perf_counter()
        # Data up to 30 minutes ago: the API shows everything older than 60 minutes.
        volume = seed(settings, args.days, datetime.now(UTC) - timedelta(minutes=30), rng)
        size = sum(f.stat().st_size for f in data_dir.glob("*.db")) / 1e6
        print(
            f"seeded in {time.perf_counter() - t0:.0f} s ({size:.0f} MB of SQLite): "
            f"{volume.quotes:,} quotes, {volume.weather:,} weather readings, "
            f"{volume.forecasts:,} strategy forecasts, {volume.trades:,} trades, "
            f"{volume.equity:,} equity points, {volume.settlements:,} settlements"
        )
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MILKBOT_", "KALSHI"))}
        env |= {"MILKBOT_DATA_DIR": str(data_dir), "MILKBOT_LOG_LEVEL": "warning"}
        cmd = [sys.executable, "-m", "milkbot", "api", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr and proc.poll() else ""
                    raise SystemExit(f"the API did not start\n{err}")
                time.sleep(0.2)
            t1 = time.perf_counter()
            first = httpx.get(base + args.path, timeout=60)
            cold = time.perf_counter() - t1
            cities = sum(c["event_ticker"] is not None for c in first.json().get("cities", []))
            print(f"first (uncached) {args.path}: {1000 * cold:.0f} ms, {cities} cities with data")
            for name, bust in (("cached", False), ("uncached", True)):
                result = asyncio.run(
                    load(
                        base,
                        args.path,
                        args.concurrency,
                        args.seconds,
                        args.max_requests,
                        bust,
                        proc.pid,
                    )
                )
                _report(name, result, args.concurrency)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
