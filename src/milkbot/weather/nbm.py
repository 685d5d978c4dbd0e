"""National Blend of Models station guidance: daily max/min (TXN) and its spread (XND).

Reads the NBS text bulletin (fixed 3-character columns after a 4-character label), the NBX
extended bulletin (``X/N`` row) and IEM's MOS-archive CSV layout. In every sample the
maximum sits in the 00 UTC column and the minimum in the 12 UTC column; any other hour is
refused. The maximum valid at 00 UTC on D+1 is the daytime maximum (about 7 am to 7 pm LST)
of day D for every CONUS station, which is how ``target_date`` is assigned. Like NDFD MaxT,
it is a daytime maximum, not the climate-day maximum the CLI reports.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from milkbot.domain.weather import Forecast
from milkbot.errors import ParseError

_NBS_HEADER_RE = re.compile(
    r"^[\x00-\x08\x0b-\x1f]*(?P<station>[A-Z0-9]{3,5})\s+NBM\s+V(?P<version>[\d.]+)\s+(?P<kind>NBS|NBX)\s+GUIDANCE\s+"
    r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})\s+(?P<hhmm>\d{4})\s+UTC\s*$",
    re.M,
)


@dataclass(frozen=True, slots=True)
class NbmValue:
    """One TXN value: a daytime maximum or a nighttime minimum, with its spread (XND)."""

    valid_at: datetime
    target_date: date
    is_max: bool
    value_f: int
    sd_f: float | None


@dataclass(frozen=True, slots=True)
class NbmGuidance:
    """The TXN/XND guidance of one station from one model run."""

    station: str
    run_at: datetime
    product: str
    values: tuple[NbmValue, ...]

    def daily_max_forecasts(self, available_at: datetime) -> tuple[Forecast, ...]:
        """The maxima as forecasts, usable from ``available_at`` (never before the run)."""
        if available_at < self.run_at:
            raise ParseError(f"NBM run {self.run_at} cannot be available at {available_at}")
        return tuple(
            Forecast(
                source=f"nbm-{self.product.lower()}",
                station=self.station,
                target_date=v.target_date,
                issued_at=available_at,
                tmax_f=float(v.value_f),
                sigma_f=v.sd_f,
                kind="daytime-high",
            )
            for v in self.values
            if v.is_max
        )


def _nbm_value(valid: datetime, value: int, sd: float | None) -> NbmValue:
    if valid.minute or valid.hour not in (0, 12):
        raise ParseError(f"TXN valid at {valid:%H:%M} UTC; expected 00 (max) or 12 (min)")
    if not -90 <= value <= 140:
        raise ParseError(f"implausible TXN {value}")
    if sd is not None and not 0 <= sd <= 30:
        raise ParseError(f"implausible XND {sd}")
    is_max = valid.hour == 0
    target = (valid - timedelta(hours=12)).date() if is_max else valid.date()
    return NbmValue(valid, target, is_max, value, sd)


def _columns(line: str, n: int) -> list[str]:
    """The ``n`` right-aligned 3-character fields after the 4-character row label."""
    body = line[4:].rstrip()
    if len(body) > 3 * n:
        raise ParseError(f"row {line[:4].strip()!r} is wider than the FHR row")
    body = body.ljust(3 * n)
    return [body[3 * i : 3 * i + 3].strip() for i in range(n)]


def _int_field(token: str, what: str) -> int:
    if not re.fullmatch(r"-?\d{1,3}", token):
        raise ParseError(f"{what}: not an integer: {token!r}")
    return int(token)


def _parse_nbs_block(block: str, header: re.Match[str]) -> NbmGuidance:
    try:
        run_at = datetime(
            int(header["year"]),
            int(header["month"]),
            int(header["day"]),
            int(header["hhmm"][:2]),
            int(header["hhmm"][2:]),
            tzinfo=UTC,
        )
    except ValueError as e:
        raise ParseError(f"NBM header: {e}") from None
    rows: dict[str, str] = {}
    for line in block.split("\n")[1:]:
        label = line[:4].strip()
        if label and label not in rows:
            rows[label] = line
    station = header["station"]
    if header["kind"] == "NBX":
        return _parse_nbx(rows, station, run_at)
    if "FHR" not in rows or "TXN" not in rows:
        raise ParseError(f"NBS {station}: missing FHR or TXN row")
    fhr_tokens = rows["FHR"][4:].split()
    n = len(fhr_tokens)
    fhr = [_int_field(t, "FHR") for t in fhr_tokens]
    txn = _columns(rows["TXN"], n)
    xnd = _columns(rows["XND"], n) if "XND" in rows else [""] * n
    values = []
    for hours, t, s in zip(fhr, txn, xnd, strict=True):
        if not t:
            if s:
                raise ParseError(f"NBS {station}: XND without TXN at FHR {hours}")
            continue
        sd = float(_int_field(s, "XND")) if s else None
        values.append(_nbm_value(run_at + timedelta(hours=hours), _int_field(t, "TXN"), sd))
    if not values:
        raise ParseError(f"NBS {station}: no TXN values")
    return NbmGuidance(station, run_at, "NBS", tuple(values))


def _parse_nbx(rows: dict[str, str], station: str, run_at: datetime) -> NbmGuidance:
    if "FHR" not in rows or "X/N" not in rows:
        raise ParseError(f"NBX {station}: missing FHR or X/N row")
    fhr = [_int_field(t, "FHR") for t in rows["FHR"][4:].replace("|", " ").split()]
    xn = rows["X/N"][4:].replace("|", " ").split()
    if len(xn) != len(fhr) or not fhr:
        raise ParseError(f"NBX {station}: X/N has {len(xn)} values for {len(fhr)} hours")
    values = tuple(
        _nbm_value(run_at + timedelta(hours=h), _int_field(t, "X/N"), None)
        for h, t in zip(fhr, xn, strict=True)
    )
    return NbmGuidance(station, run_at, "NBX", values)


def parse_nbm_text(text: str) -> tuple[NbmGuidance, ...]:
    """Parse every station block of an NBS or NBX text bulletin."""
    if not isinstance(text, str):
        raise ParseError("NBM text must be str")
    norm = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8)
    headers = list(_NBS_HEADER_RE.finditer(norm))
    if not headers:
        raise ParseError("no '<STATION> NBM V<x> NBS|NBX GUIDANCE <date> <time> UTC' header")
    out = []
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(norm)
        out.append(_parse_nbs_block(norm[header.start() : end], header))
    return tuple(out)


def parse_nbm_csv(text: str) -> tuple[NbmGuidance, ...]:
    """Parse IEM's MOS-archive CSV (``runtime``, ``ftime``, ``station``, ``txn``, ``xnd``)."""
    if not isinstance(text, str):
        raise ParseError("NBM CSV must be str")
    try:
        return _parse_nbm_csv(text)
    except csv.Error as e:
        raise ParseError(f"NBM CSV is not valid CSV: {e}") from None


def _parse_nbm_csv(text: str) -> tuple[NbmGuidance, ...]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    needed = {"runtime", "ftime", "station", "model", "txn", "xnd"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise ParseError(f"NBM CSV needs the columns {sorted(needed)}")
    groups: dict[tuple[str, datetime, str], list[NbmValue]] = {}
    for line_no, row in enumerate(reader, start=2):
        try:
            run_at = datetime.fromisoformat(row["runtime"]).replace(tzinfo=UTC)
            valid = datetime.fromisoformat(row["ftime"]).replace(tzinfo=UTC)
        except (TypeError, ValueError):
            raise ParseError(f"NBM CSV line {line_no}: bad runtime/ftime") from None
        key = (row["station"], run_at, row["model"])
        groups.setdefault(key, [])
        if not row["txn"]:
            continue
        try:
            txn = float(row["txn"])
            sd = float(row["xnd"]) if row["xnd"] else None
        except ValueError:
            raise ParseError(f"NBM CSV line {line_no}: txn/xnd not numeric") from None
        if txn != int(txn):
            raise ParseError(f"NBM CSV line {line_no}: txn {txn} is not whole")
        groups[key].append(_nbm_value(valid, int(txn), sd))
    if not groups:
        raise ParseError("NBM CSV has no rows")
    return tuple(
        NbmGuidance(station, run_at, model, tuple(values))
        for (station, run_at, model), values in groups.items()
    )
