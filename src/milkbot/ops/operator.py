"""The operator's command queue to the running trader (``trading.operator_commands``).

The private CLI (``milkbot halt|resume|reset-breaker``) appends a row; the trader calls
:func:`apply_pending` at every step, which applies the unapplied rows in id order to its
:class:`~milkbot.risk.breakers.BreakerBoard` and stamps ``applied_at`` and ``outcome``.

Mapping to the board:

* ``halt``          -> ``board.halt(scope, operator, reason, at)`` (a latched MANUAL trip,
  HALTED);
* ``resume``        -> ``board.reset(scope, ..., kind=BreakerKind.MANUAL)``: clears only the
  operator's halt; automatic trips on the scope stay latched;
* ``reset-breaker`` -> ``board.reset(scope, ...)``: clears every latched trip of the scope
  (a loss or drawdown still beyond its limit trips again at the next observation).

An outcome starts with ``ok:``, ``noop:`` (valid but nothing to change) or ``error:``
(invalid scope, unknown command, missing operator or reason); a bad row never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from milkbot.clock import Clock
from milkbot.domain.stations import STATIONS
from milkbot.errors import ConfigError
from milkbot.logging import get_logger
from milkbot.risk.breakers import (
    GLOBAL,
    BreakerBoard,
    BreakerKind,
    Scope,
    ScopeKind,
    TradingState,
    Trip,
)
from milkbot.risk.limits import BreakerLimits
from milkbot.store.models import OperatorCommand
from milkbot.store.state import read_state, write_state

log = get_logger(__name__)

HALT: Final = "halt"
RESUME: Final = "resume"
RESET_BREAKER: Final = "reset-breaker"
FLATTEN: Final = "flatten"
COMMANDS: Final = (HALT, RESUME, RESET_BREAKER, FLATTEN)

BREAKERS_STATE_KEY: Final = "breakers"
"""``trader_state`` key of the persisted :meth:`BreakerBoard.snapshot` (read by ``status``)."""

_CITIES = frozenset(s.city for s in STATIONS)


def parse_scope(text: str) -> Scope:
    """Parse ``global``, ``city:NYC``, ``cluster:CHI+NYC``, ``market:TICKER`` into a scope.

    City and market keys are upper-cased; a city must be one of the station registry's.
    Cluster ids are kept as written (they may contain ``:``, e.g. ``solo:DEN``).

    Raises
    ------
    ConfigError
        If the text names no valid scope.
    """
    raw = text.strip()
    kind_text, sep, key = raw.partition(":")
    kind_text, key = kind_text.strip().lower(), key.strip()
    if kind_text == ScopeKind.GLOBAL.value:
        if sep and key not in ("", "*"):
            raise ConfigError(f"scope {text!r}: the global scope takes no key")
        return GLOBAL
    try:
        kind = ScopeKind(kind_text)
    except ValueError:
        raise ConfigError(
            f"scope {text!r}: expected global, city:CODE, cluster:ID or market:TICKER"
        ) from None
    if not key or any(c.isspace() for c in key):
        raise ConfigError(f"scope {text!r}: {kind.value} needs a key without spaces")
    if kind is ScopeKind.CITY:
        key = key.upper()
        if key not in _CITIES:
            raise ConfigError(
                f"scope {text!r}: unknown city {key}; known: {', '.join(sorted(_CITIES))}"
            )
    elif kind is ScopeKind.MARKET:
        key = key.upper()
    return Scope(kind, key)


def format_scope(scope: Scope) -> str:
    """The canonical text of a scope as stored in ``operator_commands.scope``."""
    return "global" if scope == GLOBAL else f"{scope.kind.value}:{scope.key}"


def new_command(
    command: str, scope: str, operator: str, reason: str, at: datetime
) -> OperatorCommand:
    """A validated, unapplied command row (the CLI adds it to a session).

    Raises
    ------
    ConfigError
        Unknown command, invalid scope, or an empty operator or reason.
    """
    if command not in COMMANDS:
        raise ConfigError(f"unknown operator command {command!r}; expected one of {COMMANDS}")
    if not operator.strip() or not reason.strip():
        raise ConfigError("an operator command needs who (--operator) and why (--reason)")
    return OperatorCommand(
        ts=at,
        command=command,
        scope=format_scope(parse_scope(scope)),
        operator=operator.strip(),
        reason=reason.strip(),
        applied_at=None,
        outcome=None,
    )


def enqueue(
    session: Session, command: str, scope: str, operator: str, reason: str, at: datetime
) -> OperatorCommand:
    """Validate and append one command to the queue; commit; return the row (with its id)."""
    row = new_command(command, scope, operator, reason, at)
    session.add(row)
    session.commit()
    return row


def _state_note(board: BreakerBoard, scope: Scope) -> str:
    state = board.state(scope)
    if state is TradingState.ACTIVE:
        return f"{format_scope(scope)} is now ACTIVE"
    kinds = ", ".join(sorted(t.kind.value for t in board.trips_at(scope)))
    return f"{format_scope(scope)} is still {state.value} ({kinds})"


def apply_command(board: BreakerBoard, row: OperatorCommand, at: datetime) -> str:
    """Apply one command row to ``board``; return its outcome text (never raises on bad input)."""
    try:
        scope = parse_scope(row.scope)
        if row.command == HALT:
            before = board.trips_at(scope)
            already = any(
                t.kind is BreakerKind.MANUAL and t.state is TradingState.HALTED for t in before
            )
            board.halt(scope, row.operator, row.reason, at)
            if already:
                return f"noop: {format_scope(scope)} was already halted by an operator"
            return f"ok: halted {format_scope(scope)}"
        if row.command == FLATTEN:
            # Reduce-only until ``resume``: the trading desk then cancels the scope's resting
            # orders and sends immediate-or-cancel orders that close its positions.
            board.trip(
                BreakerKind.MANUAL,
                scope,
                TradingState.REDUCING,
                at,
                detail=f"{row.operator}: flatten: {row.reason}",
            )
            return f"ok: flattening {format_scope(scope)} (reduce-only until resume)"
        if row.command == RESUME:
            changes = board.reset(scope, row.operator, row.reason, at, kind=BreakerKind.MANUAL)
            if not changes:
                return f"noop: no operator halt on {format_scope(scope)}; " + _state_note(
                    board, scope
                )
            return "ok: operator halt cleared; " + _state_note(board, scope)
        if row.command == RESET_BREAKER:
            changes = board.reset(scope, row.operator, row.reason, at)
            if not changes:
                return f"noop: no latched trip on {format_scope(scope)}"
            cleared = ", ".join(c.kind.value for c in changes)
            return f"ok: cleared {cleared}; " + _state_note(board, scope)
        return f"error: unknown command {row.command!r}"
    except ConfigError as e:
        return f"error: {e}"


async def apply_pending(
    session: AsyncSession, board: BreakerBoard, clock: Clock
) -> list[OperatorCommand]:
    """Apply every unapplied operator command, in id order, to ``board``.

    Each row gets ``applied_at = clock.now()`` and an ``outcome`` (``ok:``, ``noop:`` or
    ``error:``). The session is flushed, not committed: the caller commits it in the same
    transaction as the board it persists, so a crash in between re-applies the commands
    to the restored board (halt and reset are idempotent). Returns the applied rows.
    """
    rows = list(
        (
            await session.scalars(
                select(OperatorCommand)
                .where(OperatorCommand.applied_at.is_(None))
                .order_by(OperatorCommand.id)
            )
        ).all()
    )
    for row in rows:
        at = clock.now()
        row.outcome = apply_command(board, row, at)
        row.applied_at = at
        log.warning(
            "operator_command",
            id=row.id,
            command=row.command,
            scope=row.scope,
            operator=row.operator,
            reason=row.reason,
            outcome=row.outcome,
        )
    if rows:
        await session.flush()
    return rows


async def save_board(session: AsyncSession, board: BreakerBoard, at: datetime) -> None:
    """Persist ``board.snapshot()`` under :data:`BREAKERS_STATE_KEY` (flushed, not committed)."""
    await write_state(session, BREAKERS_STATE_KEY, board.snapshot(), at)


async def load_board(session: AsyncSession, limits: BreakerLimits) -> BreakerBoard:
    """The board persisted by :func:`save_board`, or a fresh one when none was saved."""
    snapshot = await read_state(session, BREAKERS_STATE_KEY)
    return BreakerBoard.restore(limits, snapshot) if snapshot else BreakerBoard(limits)


def trips_from_snapshot(snapshot: Mapping[str, Any]) -> list[Trip]:
    """The latched trips of a persisted board snapshot (for ``status``)."""
    records = snapshot.get("trips", [])
    if not isinstance(records, list):
        raise ConfigError("breaker snapshot 'trips' must be a list")
    return [Trip.from_record(r) for r in records]
