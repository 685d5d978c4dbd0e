"""ASOS Daily Summary Message (DSM): the station's maximum and minimum so far, with times.

Interim information only (Kalshi settles on the CLI). Only the leading fields are read, as
laid out in ``shared/notes/weather.md`` section 2.4 (inferred from real samples, the layout
is **unconfirmed**): ``<ICAO> DS [hhmm] DD/MM <max><hhmm>/ <min><hhmm>//`` with times in
local standard time. A value the parser cannot read with certainty (for instance a
negative temperature, whose encoding no sample shows) raises :class:`ParseError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from milkbot.errors import ParseError

_RECORD_RE = re.compile(
    r"(?P<station>[A-Z][A-Z0-9]{3})\s+DS\s+(?:(?P<asof>\d{4})\s+)?(?P<day>\d{2})/(?P<month>\d{2})"
    r"\s+(?P<max>\S+?)/\s*(?P<min>\S+?)//"
)


@dataclass(frozen=True, slots=True)
class DsmSummary:
    """One station's DSM: the climate day and its extremes so far (LST clock readings)."""

    station: str
    climate_date: date
    as_of_lst: time | None
    max_f: int
    max_time_lst: time
    min_f: int
    min_time_lst: time


def _clock(hhmm: str, what: str) -> time:
    hours, minutes = int(hhmm[:2]), int(hhmm[2:])
    if hours > 23 or minutes > 59:
        raise ParseError(f"DSM {what}: invalid time {hhmm}")
    return time(hours, minutes)


def _value_and_time(field: str, what: str) -> tuple[int, time]:
    if not re.fullmatch(r"\d{6,7}", field):
        raise ParseError(f"DSM {what}: cannot read {field!r}")
    value = int(field[:-4])
    if value > 140:
        raise ParseError(f"DSM {what}: implausible {value}")
    return value, _clock(field[-4:], what)


def _climate_date(day: int, month: int, reference: date) -> date:
    """The date with this day and month closest to ``reference`` (within a year)."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        raise ParseError(f"DSM: invalid day/month {day:02d}/{month:02d}")
    best = min(candidates, key=lambda d: abs((d - reference).days))
    if abs((best - reference).days) > 7:
        raise ParseError(f"DSM date {best} is far from the issue date {reference}")
    return best


def parse_dsm(text: str, *, issued_on: date) -> tuple[DsmSummary, ...]:
    """Parse every station record of a DSM bulletin issued on ``issued_on`` (UTC date).

    The bulletin gives day and month only; the year comes from the issue date.
    """
    if not isinstance(text, str):
        raise ParseError("DSM text must be str")
    flat = " ".join(text.replace("\r", "\n").split())
    records = [r.strip() for r in flat.split("=") if " DS " in f" {r.strip()} "]
    if not records:
        raise ParseError("no DSM record ('<ICAO> DS DD/MM ...')")
    out = []
    for record in records:
        m = _RECORD_RE.search(record)
        if m is None:
            raise ParseError(f"DSM record not understood: {record[:60]!r}")
        station = m["station"]
        max_f, max_time = _value_and_time(m["max"], f"{station} maximum")
        min_f, min_time = _value_and_time(m["min"], f"{station} minimum")
        if min_f > max_f:
            raise ParseError(f"DSM {station}: minimum {min_f} above maximum {max_f}")
        out.append(
            DsmSummary(
                station=station,
                climate_date=_climate_date(int(m["day"]), int(m["month"]), issued_on),
                as_of_lst=_clock(m["asof"], f"{station} as-of") if m["asof"] else None,
                max_f=max_f,
                max_time_lst=max_time,
                min_f=min_f,
                min_time_lst=min_time,
            )
        )
    return tuple(out)
