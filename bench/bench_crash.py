"""The long crash run: SIGKILL the trading process at random points, many times.

The same harness as ``tests/oms/test_crash.py`` (50 trials per variant in CI), run longer:
``python bench/bench_crash.py [TRIALS] [--faults]``. Prints what the exchange holds against
the local books after the last restart: duplicate orders, orders or fills lost, position
differences (all must be zero).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.oms.crash import run_crash_trials

from milkbot.venues.exchange.faults import FaultConfig


def main() -> None:
    """Run the trials and print the comparison."""
    trials = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 200
    faults = (
        FaultConfig(
            http_5xx_rate=0.1,
            http_429_rate=0.05,
            lost_response_rate=0.15,
            latency_ms=(0.0, 5.0),
            seed=7,
        )
        if "--faults" in sys.argv
        else None
    )
    with tempfile.TemporaryDirectory() as tmp:
        r = run_crash_trials(Path(tmp), trials=trials, faults=faults, seed=trials)
    print(
        f"{r.trials} SIGKILL trials{' with faults' if faults else ''} in {r.seconds:.0f} s: "
        f"{r.venue_orders} orders at the exchange ({r.local_orders} local), {r.fills} fills; "
        f"duplicates {r.duplicate_orders}, lost orders {r.lost_orders}, "
        f"lost fills {r.lost_fills}, extra fills {r.extra_fills}, "
        f"position differences {len(r.position_mismatches)}, in flight {r.in_flight_after}, "
        f"worker tracebacks {r.worker_errors}"
    )
    if r.duplicate_orders or r.lost_orders or r.lost_fills or r.position_mismatches:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
