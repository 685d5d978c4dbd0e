"""Benchmark: the full kalshi-tape-2023-2025 backtest against only loading the tape.

Usage: ``python bench/bench_backtest.py [DATA_ROOT] [--first-hours H] [--step-hours S]``

In one process it first times ``load_dataset`` alone, then a whole backtest (load, index,
replay of every event through decide/risk/venue, settlement, metrics) and, separately, the
report (plots and HTML). The tape has no weather data, so the replay runs with
``--allow-no-weather`` (every decision time with a fresh book is decided). The goal is a
backtest within three times the load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import tempfile
import time
from pathlib import Path

from milkbot.backtest.metrics import compute_metrics
from milkbot.backtest.report import write_outputs
from milkbot.backtest.runner import BacktestConfig, run_backtest
from milkbot.datasets import load_dataset


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_root", nargs="?", default="../shared/data")
    parser.add_argument("--first-hours", type=float, default=BacktestConfig.first_hours)
    parser.add_argument("--step-hours", type=float, default=BacktestConfig.step_hours)
    args = parser.parse_args()
    tape = Path(args.data_root) / "kalshi-tape-2023-2025"

    t0 = time.perf_counter()
    ds = load_dataset([tape])
    load = time.perf_counter() - t0
    trades = 0 if ds.trades is None else len(ds.trades)
    del ds
    gc.collect()

    config = BacktestConfig(
        first_hours=args.first_hours, step_hours=args.step_hours, weather_required=False
    )
    t0 = time.perf_counter()
    ds = load_dataset([tape])
    result = asyncio.run(run_backtest(ds, config))
    metrics = compute_metrics(result)
    total = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        write_outputs(result, Path(tmp), [str(tape)])
        report = time.perf_counter() - t1

    print(f"machine: {platform.machine()} {platform.system()}, Python {platform.python_version()}")
    print(f"tape: {trades:,} trades; {result.n_prints:,} prints of {len(result.events):,} events")
    print(f"decision grid: {config.decision_hours()} hours before close")
    print(
        f"decisions: {len(result.decisions):,} of {len(result.equity) - 1:,} decision times; "
        f"orders {len(result.orders):,}; fills {len(result.fills):,}; "
        f"rows that reached the engine {result.venue_stats.rows_checked:,}"
    )
    print(f"load only: {load:.2f} s")
    print(f"backtest (load + replay + metrics): {total:.2f} s = {total / load:.2f} x load")
    print(f"  stages: {result.timings}")
    print(f"report (plots + HTML, not in the ratio): {report:.2f} s")
    print(f"P&L {metrics['pnl_net_dollars']} $, {metrics['n_trades']} trades")


if __name__ == "__main__":
    main()
