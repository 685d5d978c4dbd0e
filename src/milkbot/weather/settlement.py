"""Settlement verifier: reproduce each event's winning bracket from the settled CLI maximum.

Given a settled value (Kalshi's ``expiration_value`` or the CLI report's MAXIMUM), every
market of the event must resolve exactly as the bracket semantics of
:mod:`milkbot.domain.brackets` say. Any market whose recorded result differs, any event whose
markets disagree on the settled value, and any CLI that does not match the market's day or
station is reported as a :class:`Disagreement`; nothing is silently corrected.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from milkbot.datasets import Dataset
from milkbot.domain.brackets import Bracket, is_partition, winning_index
from milkbot.domain.stations import Station
from milkbot.domain.weather import CliReport
from milkbot.errors import DataError, DatasetError


@dataclass(frozen=True, slots=True)
class SettledMarket:
    """One market with what the exchange recorded at settlement."""

    ticker: str
    event_ticker: str
    bracket: Bracket
    result: bool | None
    expiration_value: int | None
    event_date: date | None = None
    station: str | None = None


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A market (or event) whose record contradicts the settled value."""

    event_ticker: str
    ticker: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class EventVerification:
    """The verifier's verdict on one event."""

    event_ticker: str
    settled_value: int
    winning_ticker: str | None
    markets_checked: int
    partition: bool
    disagreements: tuple[Disagreement, ...]

    @property
    def ok(self) -> bool:
        """Whether every market agrees with the settled value."""
        return not self.disagreements


def verify_event(markets: Sequence[SettledMarket], settled_value: int) -> EventVerification:
    """Resolve every market of one event with ``settled_value`` and compare to its result."""
    if not markets:
        raise DataError("an event needs at least one market")
    event = markets[0].event_ticker
    problems: list[Disagreement] = []
    brackets = [m.bracket for m in markets]
    winner: str | None = None
    try:
        idx = winning_index(brackets, settled_value)
        winner = None if idx is None else markets[idx].ticker
    except DataError as e:
        problems.append(Disagreement(event, None, str(e)))
    partition = is_partition(brackets)
    if partition and winner is None and not problems:
        problems.append(
            Disagreement(event, None, f"no bracket of a partition holds {settled_value}")
        )
    checked = 0
    for m in markets:
        if m.event_ticker != event:
            raise DataError(f"{m.ticker} is not in event {event}")
        if m.expiration_value is not None and m.expiration_value != settled_value:
            problems.append(
                Disagreement(
                    event,
                    m.ticker,
                    f"expiration_value {m.expiration_value} != settled value {settled_value}",
                )
            )
        if m.result is None:
            continue
        checked += 1
        expected = m.bracket.contains(settled_value)
        if m.result != expected:
            problems.append(
                Disagreement(
                    event,
                    m.ticker,
                    f"{m.bracket.label()} recorded {'yes' if m.result else 'no'} but "
                    f"{settled_value} gives {'yes' if expected else 'no'}",
                )
            )
    return EventVerification(event, settled_value, winner, checked, partition, tuple(problems))


def verify_against_cli(
    markets: Sequence[SettledMarket], report: CliReport, station: Station
) -> EventVerification:
    """Verify an event against a parsed CLI summary of its station and day.

    The report must be final or a correction, for the market's climate day, and carry a
    maximum; the exchange's ``expiration_value`` must equal the CLI maximum.
    """
    if not markets:
        raise DataError("an event needs at least one market")
    event = markets[0].event_ticker
    if report.max_f is None:
        raise DataError(f"CLI {report.site} {report.climate_date}: maximum is missing (MM)")
    extra: list[Disagreement] = []
    if not report.kind.settles:
        extra.append(Disagreement(event, None, f"CLI is {report.kind}, which never settles"))
    dates = {m.event_date for m in markets if m.event_date is not None}
    if dates and dates != {report.climate_date}:
        extra.append(
            Disagreement(event, None, f"CLI is for {report.climate_date}, event for {dates}")
        )
    stations = {m.station for m in markets if m.station is not None}
    if stations and stations != {station.icao}:
        extra.append(Disagreement(event, None, f"markets settle on {stations}, not {station.icao}"))
    verdict = verify_event(markets, report.max_f)
    return EventVerification(
        verdict.event_ticker,
        verdict.settled_value,
        verdict.winning_ticker,
        verdict.markets_checked,
        verdict.partition,
        tuple(extra) + verdict.disagreements,
    )


@dataclass(frozen=True)
class VerificationReport:
    """Summary of a dataset-wide verification."""

    markets_total: int
    markets_checked: int
    events_checked: int
    winners_reproduced: int
    events_winner_not_listed: int
    markets_without_value: int
    markets_without_result: int
    disagreements: tuple[Disagreement, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether no market or event disagrees."""
        return not self.disagreements

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"markets: {self.markets_total}",
            f"markets checked (result and expiration_value known): {self.markets_checked}",
            f"events checked: {self.events_checked}",
            f"winning bracket reproduced: {self.winners_reproduced}",
            f"events whose winning bracket is not listed: {self.events_winner_not_listed}",
            f"markets without expiration_value: {self.markets_without_value}",
            f"markets without result: {self.markets_without_result}",
            f"disagreements: {len(self.disagreements)}",
        ]
        out.extend(f"  {d.event_ticker} {d.ticker or '-'}: {d.reason}" for d in self.disagreements)
        return out


def _opt_int(value: Any, what: str, ticker: str) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    as_float = float(value)
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise DataError(f"{ticker}: {what} {value!r} is not a whole degree")
    return int(as_float)


def _opt_result(value: Any, ticker: str) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value in ("yes", "no"):
        return bool(value == "yes")
    raise DataError(f"{ticker}: unknown result {value!r}")


def settled_markets(dataset: Dataset) -> list[SettledMarket]:
    """Read the dataset's markets table into :class:`SettledMarket` values."""
    frame = dataset.markets
    if frame is None:
        raise DatasetError("the dataset has no markets table")
    out = []
    for row in frame.itertuples(index=False):
        ticker = str(row.ticker)
        out.append(
            SettledMarket(
                ticker=ticker,
                event_ticker=str(row.event_ticker),
                bracket=Bracket.from_strikes(
                    str(row.strike_type),
                    _opt_int(row.floor_strike, "floor_strike", ticker),
                    _opt_int(row.cap_strike, "cap_strike", ticker),
                ),
                result=_opt_result(row.result, ticker),
                expiration_value=_opt_int(row.expiration_value, "expiration_value", ticker),
                event_date=row.event_date if isinstance(row.event_date, date) else None,
                station=str(row.station) if isinstance(row.station, str) else None,
            )
        )
    return out


def verify_markets(markets: Iterable[SettledMarket]) -> VerificationReport:
    """Verify every event that has a settled value, from its ``expiration_value``."""
    by_event: dict[str, list[SettledMarket]] = defaultdict(list)
    total = without_value = without_result = 0
    for m in markets:
        total += 1
        by_event[m.event_ticker].append(m)
        without_value += m.expiration_value is None
        without_result += m.result is None
    checked = events = reproduced = not_listed = 0
    problems: list[Disagreement] = []
    for event, group in sorted(by_event.items()):
        values = {m.expiration_value for m in group if m.expiration_value is not None}
        if not values:
            continue
        if len(values) > 1:
            problems.append(Disagreement(event, None, f"several settled values {sorted(values)}"))
            continue
        (value,) = values
        verdict = verify_event(group, value)
        events += 1
        checked += verdict.markets_checked
        problems.extend(verdict.disagreements)
        winner = next((m for m in group if m.ticker == verdict.winning_ticker), None)
        if winner is None:
            not_listed += 1
        elif winner.result is True:
            reproduced += 1
    return VerificationReport(
        markets_total=total,
        markets_checked=checked,
        events_checked=events,
        winners_reproduced=reproduced,
        events_winner_not_listed=not_listed,
        markets_without_value=without_value,
        markets_without_result=without_result,
        disagreements=tuple(problems),
    )


def verify_dataset(dataset: Dataset) -> VerificationReport:
    """Verify every settled market of a dataset against its ``expiration_value``."""
    return verify_markets(settled_markets(dataset))
