"""`milkbot demo` end to end: real child processes, real ports, clean shutdown, no orphans."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _marked_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if f"MILKBOT_TEST_MARKER={marker}".encode() in environ and state != "Z":
            pids.append(int(entry.name))
    return pids


class Demo:
    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.marker = uuid.uuid4().hex
        self.ports = {k: free_port() for k in ("exchange", "api", "dashboard", "trader")}
        env = {
            **os.environ,
            "MILKBOT_TEST_MARKER": self.marker,
            "MILKBOT_DATA_DIR": str(tmp_path / "var"),
            "MILKBOT_EXCHANGE_PORT": str(self.ports["exchange"]),
            "MILKBOT_API_PORT": str(self.ports["api"]),
            "MILKBOT_DASHBOARD_PORT": str(self.ports["dashboard"]),
            "MILKBOT_TRADER_HEALTH_PORT": str(self.ports["trader"]),
            "MILKBOT_LOG_FORMAT": "json",
        }
        env.pop("MILKBOT_DATABASE_URL", None)
        self.out = tmp_path / "demo.out"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "milkbot", "demo", *args],
            env=env,
            stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.api = f"http://127.0.0.1:{self.ports['api']}"
        self.dashboard = f"http://127.0.0.1:{self.ports['dashboard']}"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.out.read_text()
            if "Milkbot demo is up" in self.out.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise AssertionError(f"demo not ready:\n{self.out.read_text()}")

    def output(self) -> str:
        return self.out.read_text(errors="replace")


def test_demo_runs_all_services_and_exits_after_leaving_no_process(tmp_path: Path) -> None:
    demo = Demo(tmp_path, "--exit-after", "70", "--speed", "3000")
    try:
        demo.wait_ready()
        assert httpx.get(demo.api + "/health").json()["status"] == "ok"
        assert httpx.get(demo.dashboard + "/_stcore/health").status_code == 200
        page = httpx.get(demo.dashboard + "/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        out = demo.output()
        for name in ("exchange", "trader", "api", "dashboard"):
            assert name in out
        assert demo.dashboard in out and demo.api in out
        # After more than an hour of replayed time, the delayed grid shows real markets.
        deadline = time.monotonic() + 35
        with_data: list[str] = []
        while time.monotonic() < deadline and len(with_data) < 5:
            cities = httpx.get(demo.api + "/v1/cities").json()["cities"]
            with_data = [c["city"] for c in cities if c["brackets"]]
            time.sleep(1)
        assert sorted(with_data) == ["AUS", "CHI", "DEN", "MIA", "NYC"]
        # Books stream over the exchange's WebSocket into the trader's market feed.
        feed = httpx.get(f"http://127.0.0.1:{demo.ports['trader']}/health").json()["market_feed"]
        assert feed["websocket"] and feed["subscribed_tickers"] > 0 and feed["ws_updates"] > 0
        assert demo.proc.wait(timeout=150) == 0
    finally:
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGKILL)
    assert "all services stopped" in demo.output()
    time.sleep(0.5)
    assert _marked_processes(demo.marker) == []
    _assert_traded(tmp_path / "var")


def _count(db: Path, table: str, where: str = "") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0])


def _assert_traded(var: Path) -> None:
    """Two simulated days: decisions became orders, fills, positions and audits, exported."""
    trading, analytics = var / "milkbot.db", var / "milkbot-analytics.db"
    for table in ("intents", "orders", "fills", "positions", "order_events"):
        assert _count(trading, table) > 0, table
    kinds = {
        row[0]
        for row in sqlite3.connect(trading).execute("SELECT DISTINCT kind FROM audit_records")
    }
    assert kinds == {"market", "weather", "strategy", "risk", "oms"}
    assert _count(trading, "orders", "WHERE status IN ('submitted', 'unknown')") == 0
    for table in ("trades", "settlements", "equity_points", "strategy_forecasts"):
        assert _count(analytics, table) > 0, table
    assert _count(analytics, "bracket_quotes", "WHERE model_prob IS NOT NULL") > 0


def test_demo_stops_everything_on_sigint(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        demo.wait_ready()
        assert len(_marked_processes(demo.marker)) >= 5
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(timeout=60) == 0
    finally:
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGKILL)
    time.sleep(0.5)
    assert _marked_processes(demo.marker) == []


def test_demo_stops_everything_when_a_child_dies(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        demo.wait_ready()
        trader_pid = httpx.get(f"http://127.0.0.1:{demo.ports['trader']}/health")
        assert trader_pid.status_code == 200
        line = next(x for x in demo.output().splitlines() if x.strip().startswith("trader"))
        os.kill(int(line.split("pid")[1].split()[0]), signal.SIGKILL)
        assert demo.proc.wait(timeout=60) == 1
    finally:
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGKILL)
    assert "trader exited" in demo.output()
    time.sleep(0.5)
    assert _marked_processes(demo.marker) == []
