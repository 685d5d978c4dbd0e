"""Latching circuit breakers and trading states at global, cluster, city and market scope.

A breaker that trips sets its scope to REDUCING (only exposure-reducing orders pass) or
HALTED (no new orders; cancels always pass). Trips latch: the state stays after the
condition clears, until an operator resets it, naming who and why. Every change of state is
appended to :attr:`BreakerBoard.log` for the audit.

A reset clears the latch but not the measurement: a daily loss or drawdown still beyond its
threshold trips again at the next observation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from milkbot.domain.ledger import EquityPoint
from milkbot.errors import ConfigError
from milkbot.risk.limits import BreakerLimits

KALSHI_DAY_TZ = ZoneInfo("America/New_York")
"""Kalshi's trading day runs from midnight Eastern."""


class TradingState(StrEnum):
    """What a scope may do: trade, only reduce exposure, or nothing but cancel."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        """0 for ACTIVE, 1 for REDUCING, 2 for HALTED."""
        return _SEVERITY[self]


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class ScopeKind(StrEnum):
    """The level a trading state applies to."""

    GLOBAL = "global"
    CLUSTER = "cluster"
    CITY = "city"
    MARKET = "market"


@dataclass(frozen=True, slots=True)
class Scope:
    """One scope: the whole book, a cluster, a city or a market."""

    kind: ScopeKind
    key: str = "*"

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


GLOBAL = Scope(ScopeKind.GLOBAL)


class BreakerKind(StrEnum):
    """Why a scope left ACTIVE (stable codes for the audit)."""

    DAILY_LOSS = "DAILY_LOSS"
    DRAWDOWN = "DRAWDOWN"
    STALE_MARKET_DATA = "STALE_MARKET_DATA"
    STALE_WEATHER_DATA = "STALE_WEATHER_DATA"
    ERROR_RATE = "ERROR_RATE"
    RECONCILIATION_MISMATCH = "RECONCILIATION_MISMATCH"
    MANUAL = "MANUAL"


@dataclass(frozen=True, slots=True)
class Trip:
    """A latched breaker: what tripped, where, into which state, and the measurement."""

    kind: BreakerKind
    scope: Scope
    state: TradingState
    at: datetime
    measure: str
    threshold: str
    detail: str = ""

    def to_record(self) -> dict[str, str]:
        """A JSON-ready dict (for persisting latched trips across restarts)."""
        return {
            "kind": self.kind.value,
            "scope_kind": self.scope.kind.value,
            "scope_key": self.scope.key,
            "state": self.state.value,
            "at": self.at.isoformat(),
            "measure": self.measure,
            "threshold": self.threshold,
            "detail": self.detail,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, str]) -> Trip:
        """Rebuild a trip from :meth:`to_record` output."""
        return cls(
            BreakerKind(record["kind"]),
            Scope(ScopeKind(record["scope_kind"]), record["scope_key"]),
            TradingState(record["state"]),
            datetime.fromisoformat(record["at"]),
            record.get("measure", ""),
            record.get("threshold", ""),
            record.get("detail", ""),
        )


@dataclass(frozen=True, slots=True)
class StateChange:
    """An audited change of a scope's latched state (a trip or an operator reset)."""

    at: datetime
    scope: Scope
    kind: BreakerKind
    old_state: TradingState
    new_state: TradingState
    cause: str
    operator: str = ""
    reason: str = ""

    def to_record(self) -> dict[str, str]:
        """A JSON-ready dict for the audit log."""
        return {
            "at": self.at.isoformat(),
            "scope": str(self.scope),
            "kind": self.kind.value,
            "old_state": self.old_state.value,
            "new_state": self.new_state.value,
            "cause": self.cause,
            "operator": self.operator,
            "reason": self.reason,
        }


@dataclass
class BreakerBoard:
    """The latched trips of every scope, and the breakers that feed them."""

    limits: BreakerLimits = field(default_factory=BreakerLimits)
    log: list[StateChange] = field(default_factory=list)
    _trips: dict[Scope, dict[BreakerKind, Trip]] = field(default_factory=dict, repr=False)
    _day: date | None = field(default=None, repr=False)
    _day_open: Decimal | None = field(default=None, repr=False)
    _last_equity: Decimal | None = field(default=None, repr=False)
    _streak: dict[str, int] = field(default_factory=dict, repr=False)
    _outcomes: deque[bool] = field(default_factory=deque, repr=False)
    _scope_day: dict[Scope, date] = field(default_factory=dict, repr=False)
    _scope_open: dict[Scope, Decimal] = field(default_factory=dict, repr=False)
    _scope_last: dict[Scope, Decimal] = field(default_factory=dict, repr=False)

    # -- persistence --------------------------------------------------------------------
    def snapshot(self) -> dict[str, object]:
        """The latched trips and the daily-loss baseline, JSON-ready; a restart must restore
        them so that no latch is lost."""
        return {
            "trips": [t.to_record() for t in self.all_trips()],
            "day": None if self._day is None else self._day.isoformat(),
            "day_open": None if self._day_open is None else str(self._day_open),
            "last_equity": None if self._last_equity is None else str(self._last_equity),
            "scopes": [
                {
                    "scope_kind": scope.kind.value,
                    "scope_key": scope.key,
                    "day": day.isoformat(),
                    "open": str(self._scope_open[scope]),
                    "last": str(self._scope_last[scope]),
                }
                for scope, day in self._scope_day.items()
            ],
        }

    @classmethod
    def restore(cls, limits: BreakerLimits, snapshot: Mapping[str, object]) -> BreakerBoard:
        """Rebuild a board from :meth:`snapshot` output (the log starts empty)."""
        board = cls(limits)
        trips = snapshot.get("trips", [])
        if not isinstance(trips, list):
            raise ConfigError("breaker snapshot 'trips' must be a list")
        for rec in trips:
            trip = Trip.from_record(rec)
            board._trips.setdefault(trip.scope, {})[trip.kind] = trip
        day, day_open, last = (
            snapshot.get("day"),
            snapshot.get("day_open"),
            snapshot.get("last_equity"),
        )
        board._day = date.fromisoformat(day) if isinstance(day, str) else None
        board._day_open = Decimal(day_open) if isinstance(day_open, str) else None
        board._last_equity = Decimal(last) if isinstance(last, str) else None
        scopes = snapshot.get("scopes", [])
        if not isinstance(scopes, list):
            raise ConfigError("breaker snapshot 'scopes' must be a list")
        for rec in scopes:
            scope = Scope(ScopeKind(rec["scope_kind"]), rec["scope_key"])
            board._scope_day[scope] = date.fromisoformat(rec["day"])
            board._scope_open[scope] = Decimal(rec["open"])
            board._scope_last[scope] = Decimal(rec["last"])
        return board

    # -- states -------------------------------------------------------------------------
    def trips_at(self, scope: Scope) -> tuple[Trip, ...]:
        """The latched trips of one scope."""
        return tuple(self._trips.get(scope, {}).values())

    def all_trips(self) -> tuple[Trip, ...]:
        """Every latched trip."""
        return tuple(t for d in self._trips.values() for t in d.values())

    def state(self, scope: Scope) -> TradingState:
        """The latched state of one scope (ignoring the scopes above it)."""
        trips = self._trips.get(scope)
        if not trips:
            return TradingState.ACTIVE
        return max((t.state for t in trips.values()), key=lambda s: s.severity)

    def governing(self, scopes: Iterable[Scope]) -> tuple[TradingState, tuple[Trip, ...]]:
        """The most severe state over ``scopes`` and the trips that impose it."""
        worst = TradingState.ACTIVE
        found: list[Trip] = []
        for scope in scopes:
            trips = self._trips.get(scope)
            if not trips:
                continue
            for t in trips.values():
                if t.state.severity > worst.severity:
                    worst, found = t.state, [t]
                elif t.state is worst and worst is not TradingState.ACTIVE:
                    found.append(t)
        return worst, tuple(found)

    def trip(
        self,
        kind: BreakerKind,
        scope: Scope,
        state: TradingState,
        at: datetime,
        *,
        measure: str = "",
        threshold: str = "",
        detail: str = "",
    ) -> Trip:
        """Latch ``state`` on ``scope`` for ``kind``; a milder trip never lowers a latch."""
        if state is TradingState.ACTIVE:
            raise ConfigError("a breaker cannot trip into ACTIVE")
        per_scope = self._trips.setdefault(scope, {})
        existing = per_scope.get(kind)
        if existing is not None and existing.state.severity >= state.severity:
            return existing
        old = self.state(scope)
        trip = Trip(kind, scope, state, at, measure, threshold, detail)
        per_scope[kind] = trip
        self.log.append(StateChange(at, scope, kind, old, self.state(scope), "trip", "", detail))
        return trip

    def halt(self, scope: Scope, operator: str, reason: str, at: datetime) -> Trip:
        """Halt a scope by hand (kind MANUAL)."""
        _require_operator(operator, reason)
        return self.trip(
            BreakerKind.MANUAL, scope, TradingState.HALTED, at, detail=f"{operator}: {reason}"
        )

    def reset(
        self,
        scope: Scope,
        operator: str,
        reason: str,
        at: datetime,
        kind: BreakerKind | None = None,
    ) -> list[StateChange]:
        """Clear latched trips of ``scope`` (one ``kind`` or all), recording who and why."""
        _require_operator(operator, reason)
        per_scope = self._trips.get(scope, {})
        kinds = [kind] if kind is not None else list(per_scope)
        changes: list[StateChange] = []
        for k in kinds:
            if k not in per_scope:
                continue
            old = self.state(scope)
            del per_scope[k]
            self._streak.pop(k.value, None)
            self._streak.pop(f"SCOPE_LOSS:{scope}", None)
            if k is BreakerKind.DRAWDOWN:
                self._streak.pop("DRAWDOWN_HALTED", None)
            if k is BreakerKind.ERROR_RATE:
                self._outcomes.clear()
            change = StateChange(at, scope, k, old, self.state(scope), "reset", operator, reason)
            self.log.append(change)
            changes.append(change)
        if not per_scope:
            self._trips.pop(scope, None)
        return changes

    # -- breakers -----------------------------------------------------------------------
    def _confirmed(self, key: str, breached: bool) -> bool:
        n = self._streak.get(key, 0) + 1 if breached else 0
        self._streak[key] = n
        return n >= self.limits.confirmations

    def observe_equity(self, point: EquityPoint) -> list[Trip]:
        """Feed a marked equity point (from the ledger); trip daily-loss and drawdown breakers.

        The daily loss is measured from the last equity observed before 00:00 America/New_York
        (or the day's first observation), so it counts realized and marked P&L.
        """
        trips: list[Trip] = []
        day = point.ts.astimezone(KALSHI_DAY_TZ).date()
        if day != self._day:
            self._day = day
            self._day_open = self._last_equity if self._last_equity is not None else point.equity
        self._last_equity = point.equity
        assert self._day_open is not None
        loss = self._day_open - point.equity
        lim = self.limits
        if self._confirmed(BreakerKind.DAILY_LOSS.value, loss >= lim.daily_loss):
            trips.append(
                self.trip(
                    BreakerKind.DAILY_LOSS,
                    GLOBAL,
                    TradingState.HALTED,
                    point.ts,
                    measure=str(loss),
                    threshold=str(lim.daily_loss),
                    detail=f"day {day} opened at {self._day_open}, equity {point.equity}",
                )
            )
        dd = point.drawdown
        halted = self._confirmed("DRAWDOWN_HALTED", dd >= lim.drawdown_halted)
        reducing = self._confirmed(BreakerKind.DRAWDOWN.value, dd >= lim.drawdown_reducing)
        if halted or reducing:
            state = TradingState.HALTED if halted else TradingState.REDUCING
            trips.append(
                self.trip(
                    BreakerKind.DRAWDOWN,
                    GLOBAL,
                    state,
                    point.ts,
                    measure=f"{dd:.4f}",
                    threshold=str(lim.drawdown_halted if halted else lim.drawdown_reducing),
                    detail=f"equity {point.equity}, high-water mark {point.high_water_mark}",
                )
            )
        return trips

    def observe_city_pnl(
        self,
        pnl_by_city: Mapping[str, Decimal],
        at: datetime,
        cluster_of: Callable[[str], str] | None = None,
    ) -> list[Trip]:
        """Feed cumulative P&L per city (``Ledger.pnl_by_city``); trip REDUCING on a city or
        cluster whose loss since 00:00 America/New_York reaches its limit."""
        day = at.astimezone(KALSHI_DAY_TZ).date()
        values: dict[Scope, Decimal] = {}
        for city, pnl in pnl_by_city.items():
            values[Scope(ScopeKind.CITY, city)] = pnl
            if cluster_of is not None:
                cl = Scope(ScopeKind.CLUSTER, cluster_of(city))
                values[cl] = values.get(cl, Decimal(0)) + pnl
        trips: list[Trip] = []
        for scope, pnl in values.items():
            if self._scope_day.get(scope) != day:
                self._scope_day[scope] = day
                self._scope_open[scope] = self._scope_last.get(scope, Decimal(0))
            self._scope_last[scope] = pnl
            loss = self._scope_open[scope] - pnl
            limit = (
                self.limits.city_daily_loss
                if scope.kind is ScopeKind.CITY
                else self.limits.cluster_daily_loss
            )
            if self._confirmed(f"SCOPE_LOSS:{scope}", loss >= limit):
                trips.append(
                    self.trip(
                        BreakerKind.DAILY_LOSS,
                        scope,
                        TradingState.REDUCING,
                        at,
                        measure=str(loss),
                        threshold=str(limit),
                        detail=f"{scope} P&L {pnl} vs day open {self._scope_open[scope]}",
                    )
                )
        return trips

    def record_order_result(self, ok: bool, at: datetime) -> Trip | None:
        """Count an order request's outcome; trip ERROR_RATE when too many failed."""
        lim = self.limits
        self._outcomes.append(ok)
        while len(self._outcomes) > lim.error_window:
            self._outcomes.popleft()
        n = len(self._outcomes)
        errors = n - sum(self._outcomes)
        if n >= lim.min_error_attempts and errors / n >= lim.error_rate:
            return self.trip(
                BreakerKind.ERROR_RATE,
                GLOBAL,
                TradingState.HALTED,
                at,
                measure=f"{errors}/{n}",
                threshold=f"{lim.error_rate}",
            )
        return None

    def observe_data_age(
        self, kind: BreakerKind, scope: Scope, last_update: datetime | None, at: datetime
    ) -> Trip | None:
        """Trip a stale-data breaker on ``scope`` when its data is older than allowed."""
        if kind is BreakerKind.STALE_MARKET_DATA:
            limit = self.limits.max_quote_age
        elif kind is BreakerKind.STALE_WEATHER_DATA:
            limit = self.limits.max_forecast_age
        else:
            raise ConfigError(f"{kind} is not a stale-data breaker")
        if last_update is not None and at - last_update <= limit:
            return None
        age = "never" if last_update is None else str(at - last_update)
        return self.trip(kind, scope, TradingState.HALTED, at, measure=age, threshold=str(limit))

    def report_reconciliation(self, mismatches: Sequence[str], at: datetime) -> Trip | None:
        """Halt everything when reconciliation with the exchange found differences."""
        if not mismatches:
            return None
        return self.trip(
            BreakerKind.RECONCILIATION_MISMATCH,
            GLOBAL,
            TradingState.HALTED,
            at,
            measure=str(len(mismatches)),
            threshold="0",
            detail="; ".join(mismatches[:10]),
        )


def _require_operator(operator: str, reason: str) -> None:
    if not operator.strip() or not reason.strip():
        raise ConfigError("an operator action needs who and why")
