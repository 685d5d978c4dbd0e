"""The operator command queue: parsing, and apply_pending on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from milkbot.clock import FixedClock
from milkbot.errors import ConfigError
from milkbot.ops.operator import (
    apply_pending,
    enqueue,
    format_scope,
    load_board,
    parse_scope,
    save_board,
)
from milkbot.risk.breakers import (
    GLOBAL,
    BreakerBoard,
    BreakerKind,
    Scope,
    ScopeKind,
    TradingState,
)
from milkbot.risk.limits import BreakerLimits
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, create_trading_sync_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import OperatorCommand

from .conftest import sqlite_settings_at

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NYC = Scope(ScopeKind.CITY, "NYC")


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("global", GLOBAL),
        ("GLOBAL:*", GLOBAL),
        ("city:nyc", NYC),
        ("cluster:CHI+NYC+PHL", Scope(ScopeKind.CLUSTER, "CHI+NYC+PHL")),
        ("cluster:solo:DEN", Scope(ScopeKind.CLUSTER, "solo:DEN")),
        ("market:kxhighny-25apr06-b60.5", Scope(ScopeKind.MARKET, "KXHIGHNY-25APR06-B60.5")),
    ],
)
def test_parse_scope(text: str, scope: Scope) -> None:
    assert parse_scope(text) == scope
    assert parse_scope(format_scope(scope)) == scope


@pytest.mark.parametrize(
    "text", ["", "city:", "city:XX", "planet:earth", "global:NYC", "market:A B", "cluster"]
)
def test_parse_scope_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_scope(text)


def test_enqueue_validates_before_writing(tmp_path: Path) -> None:
    settings = sqlite_settings_at(tmp_path / "var")
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    with Session(engine) as s:
        for bad in (
            ("halt", "city:XX", "ops", "why"),
            ("explode", "global", "ops", "why"),
            ("halt", "global", " ", "why"),
            ("halt", "global", "ops", ""),
        ):
            with pytest.raises(ConfigError):
                enqueue(s, *bad, T0)
        assert s.scalars(select(OperatorCommand)).all() == []
        row = enqueue(s, "halt", "city:nyc", "ops", "storm", T0)
        assert (row.id, row.scope, row.applied_at, row.outcome) == (1, "city:NYC", None, None)
    engine.dispose()


def _raw(command: str, scope: str, operator: str = "ops", reason: str = "test") -> OperatorCommand:
    """A row as any writer could insert it, bypassing the CLI's validation."""
    return OperatorCommand(ts=T0, command=command, scope=scope, operator=operator, reason=reason)


async def _run_queue(settings: Settings) -> None:
    upgrade(settings)
    sync = create_trading_sync_engine(settings)
    with Session(sync) as s:
        s.add_all(
            [
                _raw("halt", "global"),
                _raw("halt", "city:NYC"),
                _raw("halt", "city:NYC"),  # twice: no-op
                _raw("resume", "city:NYC"),
                _raw("resume", "market:KXHIGHNY-25APR06-B60.5"),  # nothing to resume
                _raw("reset-breaker", "global"),  # clears MANUAL and DAILY_LOSS
                _raw("halt", "city:XX"),  # invalid scope
                _raw("flip", "global"),  # unknown command
                _raw("halt", "global", operator=""),  # who is missing
            ]
        )
        s.commit()
    sync.dispose()

    board = BreakerBoard(BreakerLimits())
    board.trip(BreakerKind.DAILY_LOSS, GLOBAL, TradingState.HALTED, T0 - timedelta(hours=1))
    clock = FixedClock(T0)
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        applied = await apply_pending(session, board, clock)
        await save_board(session, board, clock.now())
    outcomes = [(r.id, r.outcome) for r in applied]
    assert [i for i, _ in outcomes] == list(range(1, 10))
    texts = [o or "" for _, o in outcomes]
    assert texts[0] == "ok: halted global"
    assert texts[1] == "ok: halted city:NYC"
    assert texts[2].startswith("noop: city:NYC was already halted")
    assert texts[3] == "ok: operator halt cleared; city:NYC is now ACTIVE"
    assert texts[4].startswith("noop: no operator halt on market:KXHIGHNY-25APR06-B60.5")
    assert texts[5].startswith("ok: cleared ") and "global is now ACTIVE" in texts[5]
    assert set(texts[5].split(";")[0].removeprefix("ok: cleared ").split(", ")) == {
        "DAILY_LOSS",
        "MANUAL",
    }
    assert texts[6].startswith("error: scope 'city:XX': unknown city XX")
    assert texts[7] == "error: unknown command 'flip'"
    assert texts[8] == "error: an operator action needs who and why"
    assert board.all_trips() == ()
    manual = [c for c in board.log if c.kind is BreakerKind.MANUAL]
    assert [(str(c.scope), c.cause, c.new_state) for c in manual] == [
        ("global:*", "trip", TradingState.HALTED),
        ("city:NYC", "trip", TradingState.HALTED),
        ("city:NYC", "reset", TradingState.ACTIVE),
        ("global:*", "reset", TradingState.ACTIVE),  # after DAILY_LOSS, in latch order
    ]

    # Stamps are committed; a second pass finds nothing; a new command is applied alone.
    clock.advance(timedelta(minutes=1))
    async with sessions.begin() as session:
        assert await apply_pending(session, board, clock) == []
        session.add(_raw("halt", "cluster:solo:DEN"))
    async with sessions.begin() as session:
        (row,) = await apply_pending(session, board, clock)
        assert row.outcome == "ok: halted cluster:solo:DEN"
        assert row.applied_at == T0 + timedelta(minutes=1)
    async with sessions() as session:
        stamped = (await session.scalars(select(OperatorCommand))).all()
        assert all(r.applied_at is not None and r.outcome for r in stamped)
        assert {r.applied_at for r in stamped if r.id <= 9} == {T0}
        # The board saved in the first transaction had nothing latched.
        restored = await load_board(session, BreakerLimits())
        assert restored.all_trips() == ()
    await engine.dispose()


async def test_apply_pending_on_sqlite(tmp_path: Path) -> None:
    await _run_queue(sqlite_settings_at(tmp_path / "var"))


@pytest.mark.postgres
async def test_apply_pending_on_postgres(pg_url: str) -> None:
    await _run_queue(Settings(database_url=pg_url, _env_file=None))


async def test_a_rolled_back_step_reapplies_its_commands(tmp_path: Path) -> None:
    """A trader that dies before committing re-applies the commands to the restored board."""
    settings = sqlite_settings_at(tmp_path / "var")
    upgrade(settings)
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        session.add(_raw("halt", "city:NYC"))
    lost = BreakerBoard(BreakerLimits())
    async with sessions() as session:
        (row,) = await apply_pending(session, lost, FixedClock(T0))
        row_id = row.id
        assert lost.state(NYC) is TradingState.HALTED
        await session.rollback()
    async with sessions.begin() as session:
        board = await load_board(session, BreakerLimits())
        (again,) = await apply_pending(session, board, FixedClock(T0))
        assert again.id == row_id and again.outcome == "ok: halted city:NYC"
        await save_board(session, board, T0)
    async with sessions() as session:
        restored = await load_board(session, BreakerLimits())
        (trip,) = restored.all_trips()
        assert (trip.scope, trip.kind, trip.state) == (NYC, BreakerKind.MANUAL, TradingState.HALTED)
        assert trip.detail == "ops: test"
    await engine.dispose()


async def test_save_board_overwrites_and_keeps_baselines(tmp_path: Path) -> None:
    from milkbot.domain.ledger import EquityPoint

    settings = sqlite_settings_at(tmp_path / "var")
    upgrade(settings)
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    board = BreakerBoard(BreakerLimits())
    board.observe_equity(EquityPoint(T0, Decimal(1000), Decimal(1000), Decimal(0), Decimal(0)))
    async with sessions.begin() as session:
        await save_board(session, board, T0)
    board.halt(GLOBAL, "ops", "maintenance", T0)
    async with sessions.begin() as session:
        await save_board(session, board, T0 + timedelta(seconds=5))
    async with sessions() as session:
        restored = await load_board(session, BreakerLimits())
    assert restored.snapshot() == board.snapshot()
    await engine.dispose()
