"""Parser of the NWS Daily Climate Report (CLI), the text product Kalshi settles on.

The rules follow ``shared/notes/weather.md`` section 2.6 (pyIEM's headline regex, the
``VALID ... AS OF`` preliminary marker, ``(CORRECTION)``, several stations per product,
``301 PM`` and ``6:27 PM`` times). The parser is strict: anything it cannot read with
certainty raises :class:`ParseError`; it never guesses a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from milkbot.domain.stations import Station
from milkbot.domain.weather import CliKind, CliReport
from milkbot.errors import DataError, ParseError

# Plausible bounds of a US surface temperature in degF (records: -80 and 134).
MIN_PLAUSIBLE_F = -90
MAX_PLAUSIBLE_F = 140

_MONTHS = {
    "JAN": 1,
    "FEB": 2,
    "MAR": 3,
    "APR": 4,
    "MAY": 5,
    "JUN": 6,
    "JUL": 7,
    "AUG": 8,
    "SEP": 9,
    "OCT": 10,
    "NOV": 11,
    "DEC": 12,
}
_FULL_MONTHS = {
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "SEPT",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
}
# US time-zone abbreviations printed on the issuance line, as UTC offsets in hours.
_TZ_OFFSETS = {
    "UTC": 0,
    "GMT": 0,
    "AST": -4,
    "ADT": -3,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
    "CHST": 10,
    "SST": -11,
}

_HEADLINE_RE = re.compile(
    r"\.\.\.THE\s+(?P<site>\S.*?)\s+CLIMATE\s+SUMMARY\s+(?:FOR|FROM)\s+"
    r"(?P<month>[A-Z]+)\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"(?P<corr>\s+CORRECTION)?\s*\.\.\."
)
_WMO_RE = re.compile(r"^(?P<ttaaii>[A-Z]{4}\d{2})\s+(?P<cccc>[A-Z]{4})\s+(?P<ddhhmm>\d{6})\b", re.M)
_PIL_RE = re.compile(r"^(?P<pil>CLI[A-Z0-9]{3})\s*$", re.M)
_ISSUED_RE = re.compile(
    r"^(?P<hm>\d{3,4})\s+(?P<ampm>AM|PM)\s+(?P<tz>[A-Z]{3,4})\s+[A-Z]{3}\s+"
    r"(?P<month>[A-Z]{3})\s+(?P<day>\d{1,2})\s+(?P<year>\d{4})\s*$",
    re.M,
)
_TITLE_CORRECTION_RE = re.compile(r"^\s*CLIMATE\s+REPORT\s*\(\s*CORRECTION\s*\)", re.M)
_VALID_AS_OF_RE = re.compile(
    r"^\s*VALID\s+(?:TODAY\s+)?AS\s+OF\s+(?P<hm>\d{1,2}:?\d{2})\s*(?P<ampm>AM|PM)\b", re.M
)
_TEMPERATURE_HEADER_RE = re.compile(r"^\s*TEMPERATURE\s*\(F\)\s*$", re.M)
_TIME_TOKEN = r"(?:\d{1,2}:\d{2}|\d{3,4})\s?[AP]M"
_VALUE_LINE_RE = {
    label: re.compile(
        rf"^\s*{label}\s+(?P<val>-?\d{{1,3}}|MM)(?P<rec>\s?R)?(?=\s|$)"
        rf"(?:\s+(?P<time>{_TIME_TOKEN}|MM)(?=\s|$))?"
    )
    for label in ("MAXIMUM", "MINIMUM")
}
_PERIOD_LABELS = ("YESTERDAY", "TODAY")


@dataclass(frozen=True, slots=True)
class _Header:
    pil: str | None
    office: str | None
    issued_at: datetime | None
    correction_title: bool


def _normalise(text: str) -> str:
    if not isinstance(text, str):
        raise ParseError(f"CLI text must be str, got {type(text).__name__}")
    return text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8).upper()


def _month_number(token: str) -> int:
    if token in _FULL_MONTHS or token in _MONTHS:
        return _MONTHS[token[:3]]
    raise ParseError(f"unknown month {token!r}")


def _make_date(year: str, month: str, day: str) -> date:
    try:
        return date(int(year), _month_number(month), int(day))
    except ValueError as e:
        raise ParseError(f"invalid date {month} {day} {year}: {e}") from None


def _clock(hm: str, ampm: str) -> time:
    """Turn ``301``/``1204``/``6:27`` with AM/PM into a clock time; strict."""
    digits = hm.replace(":", "")
    if ":" in hm:
        hours_s, minutes_s = hm.split(":")
    elif len(digits) in (3, 4):
        hours_s, minutes_s = digits[:-2], digits[-2:]
    else:
        raise ParseError(f"invalid time {hm} {ampm}")
    hours, minutes = int(hours_s), int(minutes_s)
    if not (1 <= hours <= 12 and 0 <= minutes <= 59):
        raise ParseError(f"invalid time {hm} {ampm}")
    hours %= 12
    if ampm == "PM":
        hours += 12
    return time(hours, minutes)


def _parse_time_token(token: str | None) -> time | None:
    if token is None or token == "MM":
        return None
    m = re.fullmatch(r"(?P<hm>\d{1,2}:\d{2}|\d{3,4})\s?(?P<ampm>[AP]M)", token)
    if m is None:
        raise ParseError(f"invalid time {token!r}")
    return _clock(m["hm"], m["ampm"])


def _parse_header(text: str, until: int) -> _Header:
    head = text[:until]
    wmo = _WMO_RE.search(head)
    pil = _PIL_RE.search(head)
    issued = _ISSUED_RE.search(head)
    issued_at: datetime | None = None
    if issued is not None:
        tz = issued["tz"]
        if tz not in _TZ_OFFSETS:
            raise ParseError(f"unknown time zone {tz!r} on the issuance line")
        local_day = _make_date(issued["year"], issued["month"], issued["day"])
        clock = _clock(issued["hm"], issued["ampm"])
        zone = timezone(timedelta(hours=_TZ_OFFSETS[tz]))
        issued_at = datetime.combine(local_day, clock, tzinfo=zone).astimezone(UTC)
    return _Header(
        pil=pil["pil"] if pil else None,
        office=wmo["cccc"] if wmo else None,
        issued_at=issued_at,
        correction_title=_TITLE_CORRECTION_RE.search(head) is not None,
    )


def _temperature_block(section: str, site: str) -> tuple[str, list[str]]:
    header = _TEMPERATURE_HEADER_RE.search(section)
    if header is None:
        raise ParseError(f"CLI {site}: no 'TEMPERATURE (F)' section")
    lines = section[header.end() :].split("\n")[1:]
    idx = 0
    while idx < len(lines) and not lines[idx].strip():
        idx += 1
    if idx == len(lines):
        raise ParseError(f"CLI {site}: empty temperature section")
    period = lines[idx].strip()
    if period not in _PERIOD_LABELS:
        raise ParseError(f"CLI {site}: unexpected temperature period label {period!r}")
    block: list[str] = []
    for line in lines[idx + 1 :]:
        if not line.strip():
            break
        block.append(line)
    return period, block


def _value_line(block: list[str], label: str, site: str) -> tuple[int | None, time | None, bool]:
    candidates = [line for line in block if line.strip().startswith(label)]
    if len(candidates) != 1:
        raise ParseError(f"CLI {site}: expected one {label} line, found {len(candidates)}")
    m = _VALUE_LINE_RE[label].match(candidates[0])
    if m is None:
        raise ParseError(f"CLI {site}: cannot read {label} line {candidates[0].strip()!r}")
    raw = m["val"]
    if raw == "MM":
        return None, None, False
    value = int(raw)
    if not MIN_PLAUSIBLE_F <= value <= MAX_PLAUSIBLE_F:
        raise ParseError(f"CLI {site}: implausible {label} {value}")
    return value, _parse_time_token(m["time"]), m["rec"] is not None


def _parse_section(section: str, headline: re.Match[str], header: _Header) -> CliReport:
    site = " ".join(headline["site"].split())
    climate_date = _make_date(headline["year"], headline["month"], headline["day"])
    valid = _VALID_AS_OF_RE.search(section)
    # The "VALID AS OF" line sits between the headline and the table, never inside it.
    temp_header = _TEMPERATURE_HEADER_RE.search(section)
    if valid is not None and temp_header is not None and valid.start() > temp_header.start():
        valid = None
    valid_as_of = _clock(valid["hm"], valid["ampm"]) if valid is not None else None
    period, block = _temperature_block(section, site)
    max_f, max_time, max_rec = _value_line(block, "MAXIMUM", site)
    min_f, min_time, min_rec = _value_line(block, "MINIMUM", site)
    if headline["corr"] is not None or header.correction_title:
        kind = CliKind.CORRECTION
    elif valid_as_of is not None or period == "TODAY":
        kind = CliKind.PRELIMINARY
    else:
        kind = CliKind.FINAL
    if header.issued_at is not None:
        # The earliest zone on the issuance line is UTC-11; a report cannot describe a
        # day that had not started where it was issued.
        latest_local_day = (header.issued_at + timedelta(hours=14)).date()
        if climate_date > latest_local_day:
            raise ParseError(
                f"CLI {site}: climate date {climate_date} after issuance {header.issued_at}"
            )
    try:
        return CliReport(
            site=site,
            climate_date=climate_date,
            kind=kind,
            period=period,
            max_f=max_f,
            max_time_lst=max_time,
            min_f=min_f,
            min_time_lst=min_time,
            valid_as_of_local=valid_as_of,
            issued_at=header.issued_at,
            pil=header.pil,
            office=header.office,
            max_record=max_rec,
            min_record=min_rec,
        )
    except DataError as e:
        raise ParseError(str(e)) from e


def parse_cli_product(text: str) -> tuple[CliReport, ...]:
    """Parse every station summary in one CLI product, in the order printed.

    Raises :class:`ParseError` when the text holds no climate summary or when any summary
    cannot be read with certainty.
    """
    norm = _normalise(text)
    headlines = list(_HEADLINE_RE.finditer(norm))
    if not headlines:
        raise ParseError("no '...THE <SITE> CLIMATE SUMMARY FOR <DATE>...' headline")
    header = _parse_header(norm, headlines[0].start())
    reports = []
    for i, headline in enumerate(headlines):
        end = headlines[i + 1].start() if i + 1 < len(headlines) else len(norm)
        reports.append(_parse_section(norm[headline.start() : end], headline, header))
    return tuple(reports)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Z0-9]+", text.upper()))


def matches_station(report: CliReport, station: Station) -> bool:
    """Whether a summary's headline names the station's settlement site."""
    site = _tokens(report.site)
    return any(
        _tokens(key) <= site for key in (station.rules_keyword, station.site) if _tokens(key)
    )


def report_for_station(reports: tuple[CliReport, ...], station: Station) -> CliReport:
    """Pick the station's summary from a parsed product.

    A summary whose headline names the site wins. A single-summary product is accepted
    when its PIL is the station's CLI product. Anything else raises :class:`ParseError`.
    """
    hits = [r for r in reports if matches_station(r, station)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ParseError(f"{len(hits)} summaries match {station.site}")
    if len(reports) == 1 and reports[0].pil == station.cli_product:
        return reports[0]
    names = ", ".join(r.site for r in reports)
    raise ParseError(f"no summary for {station.site} ({station.cli_product}) among: {names}")


def parse_cli(text: str, station: Station | None = None) -> CliReport:
    """Parse a CLI product and return one summary (the station's, or the only one)."""
    reports = parse_cli_product(text)
    if station is not None:
        return report_for_station(reports, station)
    if len(reports) != 1:
        raise ParseError(f"product holds {len(reports)} summaries; name the station")
    return reports[0]


def latest_settling_report(reports: Iterable[CliReport], climate_date: date) -> CliReport | None:
    """The report that settles ``climate_date``: the latest-issued final or correction.

    Preliminary reports never settle. Returns None when no final report is known yet.
    Raises :class:`ParseError` when two settling reports have no comparable issue time.
    """
    candidates = [r for r in reports if r.kind.settles and r.climate_date == climate_date]
    if not candidates:
        return None
    if len(candidates) > 1 and any(r.issued_at is None for r in candidates):
        raise ParseError(f"several reports for {climate_date} without an issue time")
    return max(candidates, key=lambda r: r.issued_at or datetime.min.replace(tzinfo=UTC))
