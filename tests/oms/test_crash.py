"""Crash test: SIGKILL the trading process at random points, restart, and compare with the
exchange: no duplicate order, no lost order or fill, positions equal (50 trials each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from milkbot.venues.exchange.faults import FaultConfig
from tests.oms.crash import CrashResult, run_crash_trials

pytestmark = pytest.mark.slow

TRIALS = 50


def _assert_clean(r: CrashResult) -> None:
    assert r.venue_orders > 0 and r.fills > 0, "the worker must have traded"
    assert r.duplicate_orders == 0
    assert r.lost_orders == 0, "every order at the exchange is known locally"
    assert r.lost_fills == 0 and r.extra_fills == 0
    assert r.position_mismatches == []
    assert r.in_flight_after == 0
    assert r.final_mismatches == []
    assert r.worker_errors == 0


def test_sigkill_at_random_points(tmp_path: Path) -> None:
    _assert_clean(run_crash_trials(tmp_path, trials=TRIALS, seed=1))


def test_sigkill_with_exchange_faults(tmp_path: Path) -> None:
    faults = FaultConfig(
        http_5xx_rate=0.1,
        http_429_rate=0.05,
        lost_response_rate=0.15,
        latency_ms=(0.0, 5.0),
        seed=7,
    )
    _assert_clean(run_crash_trials(tmp_path, trials=TRIALS, faults=faults, seed=2))
