"""``milkbot halt|resume|reset-breaker|status`` through the CLI, on a real SQLite database,
with the trader's real health endpoint."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from milkbot.clock import FixedClock
from milkbot.oms.reconcile import REPORT_KEY
from milkbot.ops.operator import apply_pending, load_board, save_board
from milkbot.risk.breakers import GLOBAL, BreakerKind, TradingState
from milkbot.risk.limits import BreakerLimits
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, create_trading_sync_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import Fill, Intent, Order, Position, TraderState
from milkbot.trader.health import health_app
from tests.servers import ThreadedServer, free_port

from .conftest import cli_env, ops_app, sqlite_settings_at

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TICKER = "KXHIGHNY-26MAR02-B44.5"


def _env(settings: Settings, health_port: int) -> dict[str, str | None]:
    return cli_env(
        MILKBOT_DATA_DIR=str(settings.data_dir), MILKBOT_TRADER_HEALTH_PORT=str(health_port)
    )


def _trader_step(settings: Settings) -> list[str]:
    """What the trader does at a step: restore the board, apply commands, save the board."""

    async def step() -> list[str]:
        engine = create_trading_engine(settings)
        try:
            async with session_factory(engine).begin() as session:
                board = await load_board(session, BreakerLimits())
                applied = await apply_pending(session, board, FixedClock(T0))
                await save_board(session, board, T0)
                return [r.outcome or "" for r in applied]
        finally:
            await engine.dispose()

    return asyncio.run(step())


def _book(settings: Settings) -> None:
    """Orders in several states, one fill, an open and a settled position, a reconciliation."""
    engine = create_trading_sync_engine(settings)
    with Session(engine) as s:
        for i, status in enumerate(["accepted", "accepted", "unknown", "filled", "cancelled"]):
            s.add(
                Intent(
                    intent_id=f"i{i}",
                    client_order_id=f"c{i}",
                    strategy_run="run",
                    decision_slot="slot",
                    market_ticker=TICKER,
                    event_ticker="KXHIGHNY-26MAR02",
                    city="NYC",
                    side="yes",
                    action="buy",
                    limit_price=Decimal("0.40"),
                    count=Decimal(2),
                    reason="edge",
                    created_at=T0,
                )
            )
            s.flush()
            s.add(
                Order(
                    client_order_id=f"c{i}",
                    intent_id=f"i{i}",
                    market_ticker=TICKER,
                    side="yes",
                    action="buy",
                    limit_price=Decimal("0.40"),
                    count=Decimal(2),
                    remaining_count=Decimal(2),
                    status=status,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        s.add(
            Fill(
                venue_fill_id="f1",
                market_ticker=TICKER,
                side="yes",
                action="buy",
                price=Decimal("0.40"),
                count=Decimal(2),
                fee=Decimal("0.04"),
                is_taker=True,
                ts=T0,
            )
        )
        for ticker, pos, settled in ((TICKER, "2", False), ("KXHIGHNY-26MAR01-B40.5", "0", True)):
            s.add(
                Position(
                    market_ticker=ticker,
                    event_ticker=ticker.rsplit("-", 1)[0],
                    position=Decimal(pos),
                    cost=Decimal("0.80"),
                    realized_pnl=Decimal(0),
                    fees_paid=Decimal("0.04"),
                    settled=settled,
                    updated_at=T0,
                )
            )
        s.add(
            TraderState(
                key=REPORT_KEY,
                value={
                    "at": T0.isoformat(),
                    "ok": False,
                    "orders_checked": 3,
                    "fills_applied": 1,
                    "mismatches": ["position KXHIGHNY-26MAR02-B44.5: local 2, exchange 3"],
                    "error": "",
                },
                updated_at=T0,
            )
        )
        s.commit()
    engine.dispose()


def test_halt_then_status_then_trader_applies(tmp_path: Path) -> None:
    settings = sqlite_settings_at(tmp_path / "var")
    upgrade(settings)
    _book(settings)
    env = _env(settings, free_port())
    runner = CliRunner()
    halted = runner.invoke(
        ops_app(),
        ["halt", "--scope", "city:nyc", "--reason", "storm feed broken", "--operator", "ana"],
        env=env,
    )
    assert halted.exit_code == 0, halted.output
    assert halted.stdout.startswith("queued #1: halt city:NYC by ana (storm feed broken)")
    runner.invoke(ops_app(), ["halt", "--reason", "all stop", "--operator", "ana"], env=env)

    before = runner.invoke(ops_app(), ["status"], env=env)
    assert before.exit_code == 0, before.output
    out = before.stdout
    assert "trader     DOWN: nothing answers http://127.0.0.1:" in out
    assert "breakers   no persisted board yet" in out
    assert "commands   2 pending:" in out
    assert "#1 halt city:NYC by ana" in out and "#2 halt global by ana" in out
    assert "orders     3 open, 1 in flight (accepted 2, cancelled 1, filled 1, unknown 1)" in out
    assert "positions  1 open" in out
    assert "fills      1, last 2026-03-02T15:00:00+00:00" in out
    assert (
        "reconcile  NOT OK at 2026-03-02T15:00:00+00:00: 3 orders checked, 1 fills applied\n"
        "             mismatch: position KXHIGHNY-26MAR02-B44.5: local 2, exchange 3"
    ) in out

    assert _trader_step(settings) == ["ok: halted city:NYC", "ok: halted global"]
    resumed = runner.invoke(
        ops_app(), ["resume", "--reason", "feed back", "--operator", "ana"], env=env
    )
    assert resumed.exit_code == 0
    after = runner.invoke(ops_app(), ["status", "--json"], env=env)
    body = json.loads(after.stdout)
    trips = {
        (t["scope_kind"], t["scope_key"], t["kind"], t["state"]) for t in body["breakers"]["trips"]
    }
    assert trips == {("city", "NYC", "MANUAL", "HALTED"), ("global", "*", "MANUAL", "HALTED")}
    assert [c["command"] for c in body["operator_commands"]["pending"]] == ["resume"]
    assert [c["outcome"] for c in body["operator_commands"]["recent"]] == [
        "ok: halted global",
        "ok: halted city:NYC",
    ]
    assert body["orders"]["open"] == 3 and body["fills"]["count"] == 1

    assert _trader_step(settings) == ["ok: operator halt cleared; global is now ACTIVE"]
    reset = runner.invoke(
        ops_app(),
        ["reset-breaker", "--scope", "city:NYC", "--reason", "checked", "--operator", "ana"],
        env=env,
    )
    assert reset.exit_code == 0
    assert _trader_step(settings) == ["ok: cleared MANUAL; city:NYC is now ACTIVE"]
    final = runner.invoke(ops_app(), ["status"], env=env).stdout
    assert "breakers   none latched" in final and "commands   none pending" in final


def test_status_shows_a_running_trader_and_latched_breakers(tmp_path: Path) -> None:
    settings = sqlite_settings_at(tmp_path / "var")
    upgrade(settings)

    async def latch() -> None:
        engine = create_trading_engine(settings)
        async with session_factory(engine).begin() as session:
            board = await load_board(session, BreakerLimits())
            board.trip(
                BreakerKind.DAILY_LOSS,
                GLOBAL,
                TradingState.HALTED,
                T0,
                measure="310",
                threshold="300",
                detail="equity 690",
            )
            await save_board(session, board, T0)
        await engine.dispose()

    asyncio.run(latch())
    body: dict[str, Any] = {"healthy": True, "mode": "paper", "steps": 40, "step_errors": 0}
    with ThreadedServer(health_app(lambda: body, CollectorRegistry())) as server:
        out = CliRunner().invoke(ops_app(), ["status"], env=_env(settings, server.port)).stdout
    assert "trader     up: mode=paper, steps=40, step_errors=0" in out
    assert "breakers   1 latched" in out
    assert "global:* HALTED DAILY_LOSS since 2026-03-02T15:00:00+00:00 - equity 690" in out


def test_operator_commands_refuse_bad_input_and_unmigrated_databases(tmp_path: Path) -> None:
    settings = sqlite_settings_at(tmp_path / "var")
    env = _env(settings, free_port())
    runner = CliRunner()
    bad_scope = runner.invoke(ops_app(), ["halt", "--scope", "town:X", "--reason", "r"], env=env)
    assert bad_scope.exit_code == 2 and "expected global, city:CODE" in bad_scope.output
    no_reason = runner.invoke(ops_app(), ["halt"], env=env)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    unmigrated = runner.invoke(ops_app(), ["halt", "--reason", "r"], env=env)
    assert "milkbot db upgrade" in str(unmigrated.exception)
