"""Discover the tradable daily-high events of each station and check them before trading.

For every station, the open markets of its series are fetched, grouped by event and
normalized into a :class:`DiscoveredEvent`: brackets from ``strike_type``/``floor_strike``/
``cap_strike`` sorted low to high, the climate day, and a list of problems. An event with any
problem (not six brackets, not a complete non-overlapping partition, rules text that does not
name the station, climate day unclear) is reported but must never be traded.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from milkbot.domain.brackets import Bracket, is_partition
from milkbot.domain.market import Market
from milkbot.domain.stations import Station
from milkbot.logging import get_logger

EXPECTED_BRACKETS = 6
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DATE_PART = re.compile(r"-(\d{2})([A-Z]{3})(\d{2})(?=-|$)")

_log = get_logger(__name__)


class MarketSource(Protocol):
    """What discovery needs from a venue client (:class:`KalshiClient` satisfies it)."""

    async def get_markets(
        self,
        *,
        series_ticker: str | None = None,
        event_ticker: str | None = None,
        tickers: Sequence[str] | None = None,
        status: str | None = None,
        min_close_ts: datetime | None = None,
        max_close_ts: datetime | None = None,
        limit: int = 1000,
    ) -> list[Market]:
        """Return every market matching the filters."""
        ...


@dataclass(frozen=True, slots=True)
class DiscoveredEvent:
    """One city-day event, normalized and checked.

    ``markets`` and ``brackets`` are aligned and sorted from the lowest bracket up. An event
    is tradable only when ``problems`` is empty.
    """

    station: Station
    event_ticker: str
    climate_day: date | None
    markets: tuple[Market, ...]
    brackets: tuple[Bracket, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems

    @property
    def close_time(self) -> datetime | None:
        """The earliest close time of the event's markets."""
        times = [m.close_time for m in self.markets if m.close_time is not None]
        return min(times) if times else None


def day_from_ticker(event_ticker: str) -> date | None:
    """The ``YYMMMDD`` date in an event ticker (``KXHIGHNY-26JUL12`` -> 2026-07-12), or None."""
    m = _DATE_PART.search(event_ticker.upper())
    if m is None or m.group(2) not in _MONTHS:
        return None
    try:
        return date(2000 + int(m.group(1)), _MONTHS[m.group(2)], int(m.group(3)))
    except ValueError:
        return None


def day_from_close(close_time: datetime, station: Station) -> date:
    """The climate day ending at ``close_time``, in the station's local standard time.

    Trading closes at (or one minute before) the end of the climate day, so the day is that
    of the instant just before the close.
    """
    return (close_time + station.standard_offset - timedelta(minutes=1)).date()


def rules_name_station(rules_primary: str, station: Station) -> bool:
    """Whether the rules text names the settlement site or its CLI code (``CLINYC``)."""
    text = rules_primary.casefold()
    return station.rules_keyword.casefold() in text or station.cli_product.casefold() in text


def check_event(station: Station, event_ticker: str, markets: Iterable[Market]) -> DiscoveredEvent:
    """Normalize one event's markets and list every reason not to trade it."""
    problems: list[str] = []
    with_bracket: list[tuple[Bracket, Market]] = []
    for m in markets:
        if m.bracket is None:
            problems.append(f"{m.ticker}: no temperature bracket (strike_type {m.strike_type!r})")
        else:
            with_bracket.append((m.bracket, m))
        if not rules_name_station(m.rules_primary, station):
            problems.append(
                f"{m.ticker}: rules_primary does not name {station.rules_keyword!r} "
                f"or {station.cli_product}"
            )
    with_bracket.sort(key=lambda bm: -1_000 if bm[0].lowest is None else bm[0].lowest)
    brackets = tuple(b for b, _ in with_bracket)
    ordered = tuple(m for _, m in with_bracket)
    if len(brackets) != EXPECTED_BRACKETS:
        problems.append(f"{len(brackets)} brackets, expected {EXPECTED_BRACKETS}")
    if not is_partition(brackets):
        problems.append("brackets are not a complete, non-overlapping partition")
    ticker_day = day_from_ticker(event_ticker)
    closes = {m.close_time for m in ordered if m.close_time is not None}
    close_days = {day_from_close(c, station) for c in closes}
    if len(close_days) > 1:
        problems.append(f"markets close on different climate days {sorted(close_days)}")
    close_day = min(close_days) if close_days else None
    day = ticker_day or close_day
    if day is None:
        problems.append("climate day unknown")
    elif close_day is not None and ticker_day is not None and close_day != ticker_day:
        problems.append(f"ticker day {ticker_day} disagrees with close-time day {close_day}")
    return DiscoveredEvent(station, event_ticker, day, ordered, brackets, tuple(problems))


def group_events(station: Station, markets: Iterable[Market]) -> list[DiscoveredEvent]:
    """Group a station's markets by event and check each event."""
    by_event: dict[str, list[Market]] = defaultdict(list)
    for m in markets:
        by_event[m.event_ticker].append(m)
    return [check_event(station, et, ms) for et, ms in sorted(by_event.items())]


async def discover_events(
    client: MarketSource,
    stations: Iterable[Station],
    day: date | None = None,
    *,
    status: str = "open",
) -> list[DiscoveredEvent]:
    """Fetch and check the events of every station (only ``day``'s when given).

    Events with problems are returned too (flagged) so they can be reported; callers trade
    only events whose ``ok`` is true.
    """
    out: list[DiscoveredEvent] = []
    for station in stations:
        markets = await client.get_markets(series_ticker=station.series, status=status)
        for ev in group_events(station, markets):
            if day is not None and ev.climate_day != day:
                continue
            if ev.problems:
                _log.warning(
                    "discovery.event_flagged",
                    event_ticker=ev.event_ticker,
                    problems=list(ev.problems),
                )
            out.append(ev)
    return out
