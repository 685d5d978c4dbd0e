"""Weather values: settlement reports, forecasts, observations and raw snapshots.

All types are frozen; times are aware UTC datetimes unless a field says it is a local
standard-time clock reading (as printed in a CLI report).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum

from milkbot.errors import DataError


def _require_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise DataError(f"{name} must be an aware datetime, got {value!r}")


def c_to_f(celsius: float) -> float:
    """Convert degrees Celsius to degrees Fahrenheit."""
    return celsius * 9.0 / 5.0 + 32.0


class CliKind(StrEnum):
    """The status of a Daily Climate Report issuance."""

    FINAL = "final"
    PRELIMINARY = "preliminary"
    CORRECTION = "correction"

    @property
    def settles(self) -> bool:
        """Whether this kind may settle a market (final or correction, never preliminary)."""
        return self is not CliKind.PRELIMINARY


@dataclass(frozen=True, slots=True)
class CliReport:
    """One station's summary from an NWS Daily Climate Report (CLI).

    ``max_f``/``min_f`` are None only when the report prints ``MM`` (missing); their times
    are local standard-time clock readings on ``climate_date``.
    """

    site: str
    climate_date: date
    kind: CliKind
    period: str
    max_f: int | None
    max_time_lst: time | None
    min_f: int | None
    min_time_lst: time | None
    valid_as_of_local: time | None = None
    issued_at: datetime | None = None
    pil: str | None = None
    office: str | None = None
    max_record: bool = False
    min_record: bool = False

    def __post_init__(self) -> None:
        _require_utc("issued_at", self.issued_at)
        if self.max_f is not None and self.min_f is not None and self.min_f > self.max_f:
            raise DataError(f"CLI {self.site}: minimum {self.min_f} above maximum {self.max_f}")


@dataclass(frozen=True, slots=True)
class Observation:
    """One station observation (temperature in degF, converted from the wire unit)."""

    station: str
    observed_at: datetime
    temp_f: float | None
    max_last_24h_f: float | None = None
    raw_message: str | None = None
    source: str = "nws"

    def __post_init__(self) -> None:
        _require_utc("observed_at", self.observed_at)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast of one station's daily maximum for ``target_date``.

    Either a point value ``tmax_f`` (optionally with ``sigma_f``) or ensemble ``members``
    (then ``tmax_f`` is their mean). ``kind`` says what the value describes, e.g.
    ``daytime-high`` (NWS 12-hour period, 6 am to 6 pm) or ``calendar-max``.
    """

    source: str
    station: str
    target_date: date
    issued_at: datetime | None
    tmax_f: float
    sigma_f: float | None = None
    members: tuple[float, ...] = ()
    model: str | None = None
    kind: str = "calendar-max"

    def __post_init__(self) -> None:
        _require_utc("issued_at", self.issued_at)
        if not math.isfinite(self.tmax_f):
            raise DataError(f"forecast tmax_f must be finite, got {self.tmax_f}")
        if any(not math.isfinite(m) for m in self.members):
            raise DataError("forecast members must be finite")

    @classmethod
    def from_members(
        cls,
        *,
        source: str,
        station: str,
        target_date: date,
        issued_at: datetime | None,
        members: tuple[float, ...],
        model: str | None = None,
        kind: str = "calendar-max",
    ) -> Forecast:
        """Build an ensemble forecast whose point value is the member mean."""
        if not members:
            raise DataError("an ensemble forecast needs at least one member")
        mean = sum(members) / len(members)
        sd = (
            math.sqrt(sum((m - mean) ** 2 for m in members) / (len(members) - 1))
            if len(members) > 1
            else None
        )
        return cls(
            source=source,
            station=station,
            target_date=target_date,
            issued_at=issued_at,
            tmax_f=mean,
            sigma_f=sd,
            members=members,
            model=model,
            kind=kind,
        )


@dataclass(frozen=True, slots=True)
class WeatherSnapshot:
    """A raw upstream payload as retrieved, so any decision can be replayed as of its time.

    ``issued_at`` is when the provider says the content was produced (``updateTime``,
    ``issuanceTime``, ``Last-Modified``), ``retrieved_at`` when Milkbot received it.
    """

    source: str
    station: str
    kind: str
    url: str
    issued_at: datetime | None
    retrieved_at: datetime
    payload_sha256: str
    payload: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _require_utc("issued_at", self.issued_at)
        _require_utc("retrieved_at", self.retrieved_at)
        if hashlib.sha256(self.payload).hexdigest() != self.payload_sha256:
            raise DataError("snapshot payload does not match its SHA-256")

    @classmethod
    def from_payload(
        cls,
        *,
        source: str,
        station: str,
        kind: str,
        url: str,
        payload: bytes,
        retrieved_at: datetime,
        issued_at: datetime | None = None,
    ) -> WeatherSnapshot:
        """Build a snapshot, computing the SHA-256 of the raw bytes."""
        return cls(
            source=source,
            station=station,
            kind=kind,
            url=url,
            issued_at=issued_at,
            retrieved_at=retrieved_at,
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            payload=payload,
        )

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8 (replacing undecodable bytes)."""
        return self.payload.decode("utf-8", errors="replace")
