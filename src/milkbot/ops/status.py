"""``milkbot status``: the trader's health and trading state, from localhost and the database.

Read-only: the trader's ``/health`` on 127.0.0.1, and the trading schema (persisted breaker
board, operator command queue, orders, positions, fills, last reconciliation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from milkbot.errors import ConfigError
from milkbot.oms.reconcile import REPORT_KEY
from milkbot.oms.states import IN_FLIGHT_STATES, OPEN_STATES
from milkbot.ops.operator import BREAKERS_STATE_KEY, trips_from_snapshot
from milkbot.store.models import Fill, OperatorCommand, Order, Position, TraderState

_OPEN = frozenset(s.value for s in OPEN_STATES)
_IN_FLIGHT = frozenset(s.value for s in IN_FLIGHT_STATES)


@dataclass
class TraderStatus:
    """Everything ``milkbot status`` shows."""

    health: dict[str, Any]
    trips: list[dict[str, str]]
    board_updated_at: datetime | None
    pending_commands: list[dict[str, Any]]
    recent_commands: list[dict[str, Any]]
    orders_by_status: dict[str, int]
    open_orders: int
    in_flight_orders: int
    open_positions: int
    fills: int
    last_fill_at: datetime | None
    reconciliation: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "health": self.health,
            "breakers": {
                "trips": self.trips,
                "updated_at": _iso(self.board_updated_at),
            },
            "operator_commands": {
                "pending": self.pending_commands,
                "recent": self.recent_commands,
            },
            "orders": {
                "open": self.open_orders,
                "in_flight": self.in_flight_orders,
                "by_status": self.orders_by_status,
            },
            "positions": {"open": self.open_positions},
            "fills": {"count": self.fills, "last_at": _iso(self.last_fill_at)},
            "reconciliation": self.reconciliation,
            "problems": self.problems,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def trader_health(port: int, *, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """The trader's ``/health`` on 127.0.0.1:``port``: ``state`` is up, unhealthy or down."""
    url = f"http://127.0.0.1:{port}/health"
    try:
        with httpx.Client(transport=transport, timeout=2.0) as client:
            resp = client.get(url)
    except httpx.HTTPError as e:
        return {"state": "down", "url": url, "error": f"{type(e).__name__}: {e}"}
    try:
        body = resp.json()
    except ValueError:
        body = {"raw": resp.text[:200]}
    state = "up" if resp.status_code == 200 else "unhealthy"
    return {"state": state, "url": url, "http_status": resp.status_code, "body": body}


def _command_dict(row: OperatorCommand) -> dict[str, Any]:
    return {
        "id": row.id,
        "ts": _iso(row.ts),
        "command": row.command,
        "scope": row.scope,
        "operator": row.operator,
        "reason": row.reason,
        "applied_at": _iso(row.applied_at),
        "outcome": row.outcome,
    }


def _nonzero(value: Decimal | str | None) -> bool:
    try:
        return value is not None and Decimal(value) != 0
    except InvalidOperation:
        return False


def collect_status(
    session: Session, health_port: int, *, transport: httpx.BaseTransport | None = None
) -> TraderStatus:
    """Read the trader's state from the trading database and its localhost health endpoint."""
    problems: list[str] = []
    states = {row.key: row for row in session.scalars(select(TraderState)).all()}
    board = states.get(BREAKERS_STATE_KEY)
    trips: list[dict[str, str]] = []
    if board is not None:
        try:
            trips = [t.to_record() for t in trips_from_snapshot(board.value)]
        except (ConfigError, KeyError, ValueError) as e:
            problems.append(f"persisted breaker board is unreadable: {e}")
    recon = states.get(REPORT_KEY)
    pending = session.scalars(
        select(OperatorCommand)
        .where(OperatorCommand.applied_at.is_(None))
        .order_by(OperatorCommand.id)
    ).all()
    recent = session.scalars(
        select(OperatorCommand)
        .where(OperatorCommand.applied_at.is_not(None))
        .order_by(OperatorCommand.id.desc())
        .limit(5)
    ).all()
    by_status = {
        str(status): int(n)
        for status, n in session.execute(
            select(Order.status, func.count()).group_by(Order.status).order_by(Order.status)
        ).all()
    }
    positions = session.execute(select(Position.position, Position.settled)).all()
    n_fills, last_fill = session.execute(select(func.count(), func.max(Fill.ts))).one()
    return TraderStatus(
        health=trader_health(health_port, transport=transport),
        trips=trips,
        board_updated_at=None if board is None else board.updated_at,
        pending_commands=[_command_dict(r) for r in pending],
        recent_commands=[_command_dict(r) for r in recent],
        orders_by_status=by_status,
        open_orders=sum(n for state, n in by_status.items() if state in _OPEN),
        in_flight_orders=sum(n for state, n in by_status.items() if state in _IN_FLIGHT),
        open_positions=sum(1 for pos, settled in positions if not settled and _nonzero(pos)),
        fills=int(n_fills),
        last_fill_at=last_fill,
        reconciliation=None
        if recon is None
        else {"updated_at": _iso(recon.updated_at), "report": recon.value},
        problems=problems,
    )


def render_status(status: TraderStatus) -> str:
    """The human-readable form of :func:`collect_status`."""
    lines: list[str] = []
    h = status.health
    if h["state"] == "down":
        lines.append(f"trader     DOWN: nothing answers {h['url']} ({h['error']})")
    else:
        body = h.get("body") or {}
        detail = ", ".join(
            f"{k}={body[k]}"
            for k in ("mode", "clock", "steps", "step_errors", "last_error")
            if k in body and body[k] not in (None, "")
        )
        label = "up" if h["state"] == "up" else f"UNHEALTHY (HTTP {h['http_status']})"
        lines.append(f"trader     {label}: {detail}")
    if status.board_updated_at is None:
        lines.append("breakers   no persisted board yet (the trader has not saved one)")
    elif not status.trips:
        lines.append(f"breakers   none latched (board saved {status.board_updated_at.isoformat()})")
    else:
        lines.append(
            f"breakers   {len(status.trips)} latched (board saved "
            f"{status.board_updated_at.isoformat()}):"
        )
        for t in status.trips:
            extra = f" - {t['detail']}" if t.get("detail") else ""
            lines.append(
                f"             {t['scope_kind']}:{t['scope_key']} {t['state']} {t['kind']} "
                f"since {t['at']}{extra}"
            )
    if status.pending_commands:
        lines.append(f"commands   {len(status.pending_commands)} pending:")
        lines.extend(
            f"             #{c['id']} {c['command']} {c['scope']} by {c['operator']} "
            f"at {c['ts']}: {c['reason']}"
            for c in status.pending_commands
        )
    else:
        lines.append("commands   none pending")
    lines.extend(
        f"             #{c['id']} {c['command']} {c['scope']} applied {c['applied_at']}: "
        f"{c['outcome']}"
        for c in status.recent_commands
    )
    by_status = ", ".join(f"{s} {n}" for s, n in status.orders_by_status.items()) or "none"
    flight = f", {status.in_flight_orders} in flight" if status.in_flight_orders else ""
    lines.append(f"orders     {status.open_orders} open{flight} ({by_status})")
    lines.append(f"positions  {status.open_positions} open")
    last = f", last {status.last_fill_at.isoformat()}" if status.last_fill_at else ""
    lines.append(f"fills      {status.fills}{last}")
    if status.reconciliation is None:
        lines.append("reconcile  no reconciliation recorded")
    else:
        lines.extend(_reconciliation_lines(status.reconciliation))
    lines.extend(f"problem    {p}" for p in status.problems)
    return "\n".join(lines)


def _reconciliation_lines(recon: dict[str, Any]) -> list[str]:
    report = recon["report"]
    at = report.get("at") or recon["updated_at"]
    if "ok" not in report:  # an unknown shape: show it as it is
        return [f"reconcile  at {at}: {json.dumps(report, sort_keys=True, default=str)}"]
    verdict = "ok" if report["ok"] else "NOT OK"
    counts = ", ".join(
        f"{report[k]} {k.replace('_', ' ')}"
        for k in ("orders_checked", "fills_applied", "settlements_applied", "resolved_in_flight")
        if k in report
    )
    lines = [f"reconcile  {verdict} at {at}: {counts}"]
    lines.extend(f"             mismatch: {m}" for m in report.get("mismatches") or [])
    if report.get("error"):
        lines.append(f"             error: {report['error']}")
    return lines
