"""Export what a trader recorded as a dataset in the layout of ``data/README.md``.

The trader stores a market's book whenever it changed (``market_snapshots``) and every
forecast issue its weather source kept (``forecast_issues``). From them:

* ``markets.csv``: one row per market, from its newest snapshot (strikes, times, result);
* ``quotes.csv``: every snapshot's best YES bid and ask, a **change log** (a row holds until
  the next row of the same ticker);
* ``forecasts.csv``: per station, target day and source the newest issue of each 12-hour
  issue cycle, as the trader itself keeps them (:mod:`milkbot.trader.weather_feed`);
* ``README.md``: a data card with the period, the counts and how the rows were derived.

``milkbot evaluate`` then scores the model against the recorded market with the forecasts
issued before each decision time: the forward test the historical datasets cannot give.
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from milkbot.datasets import CANONICAL_COLUMNS
from milkbot.domain.climate_day import climate_day_bounds
from milkbot.domain.stations import by_icao, by_ticker
from milkbot.errors import ConfigError
from milkbot.store.models import ForecastIssue, MarketSnapshot
from milkbot.trader.desk import event_date_of
from milkbot.trader.weather_feed import issue_cycle

# End of the period a forecast value describes, from 00:00 LST of its day (data/README.md).
PERIOD_END = {"daytime-high": timedelta(hours=19)}
DAY_END = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What :func:`export_recording` wrote."""

    markets: int
    events: int
    quotes: int
    forecasts: int
    skipped_markets: int  # recorded before snapshots carried strikes, or of unknown cities
    first_day: date | None
    last_day: date | None


def _utc(t: datetime | None) -> str:
    return (
        ""
        if t is None
        else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    )


def _cents(price: Decimal | None) -> str:
    """A YES price in whole cents, empty for a missing side (0 or 1 means none)."""
    if price is None or price <= 0 or price >= 1:
        return ""
    return str(int((price * 100).to_integral_value()))


def _strike(value: Any) -> str:
    if value is None or value == "":
        return ""
    d = Decimal(str(value))
    return str(int(d)) if d == d.to_integral_value() else str(d)


def _in_period(day: date, since: date | None, until: date | None) -> bool:
    return (since is None or day >= since) and (until is None or day <= until)


def _market_rows(
    snapshots: Sequence[MarketSnapshot], since: date | None, until: date | None
) -> tuple[list[dict[str, str]], set[str], int]:
    """markets.csv rows from each ticker's newest snapshot, the tickers kept, and the skipped."""
    newest: dict[str, MarketSnapshot] = {}
    strikes: dict[str, dict[str, Any]] = {}
    for snap in snapshots:  # oldest first
        newest[snap.market_ticker] = snap
        if snap.payload.get("strike_type"):
            strikes[snap.market_ticker] = snap.payload
    rows: list[dict[str, str]] = []
    skipped = 0
    for ticker, snap in sorted(newest.items()):
        day = event_date_of(snap.event_ticker)
        if not _in_period(day, since, until):
            continue
        station = by_ticker(ticker)
        terms = strikes.get(ticker)
        if station is None or terms is None:
            skipped += 1
            continue
        result = snap.payload.get("result") or ""
        rows.append(
            {
                "ticker": ticker,
                "event_ticker": snap.event_ticker,
                "series_ticker": station.series,
                "city": station.city,
                "station": station.icao,
                "event_date": day.isoformat(),
                "strike_type": str(terms["strike_type"]),
                "floor_strike": _strike(terms.get("floor_strike")),
                "cap_strike": _strike(terms.get("cap_strike")),
                "open_time": _utc(_parse(terms.get("open_time"))),
                "close_time": _utc(snap.close_time),
                "result": result if result in ("yes", "no") else "",
                "expiration_value": _strike(snap.payload.get("expiration_value")),
            }
        )
    return rows, {r["ticker"] for r in rows}, skipped


def _parse(value: Any) -> datetime | None:
    return None if not value else datetime.fromisoformat(str(value))


def _quote_rows(snapshots: Sequence[MarketSnapshot], tickers: set[str]) -> list[dict[str, str]]:
    return [
        {
            "ticker": s.market_ticker,
            "ts": _utc(s.ts),
            "yes_bid": _cents(s.yes_bid),
            "yes_ask": _cents(s.yes_ask),
        }
        for s in sorted(snapshots, key=lambda s: (s.market_ticker, s.ts, s.id))
        if s.market_ticker in tickers
    ]


def _forecast_rows(
    issues: Iterable[ForecastIssue], since: date | None, until: date | None
) -> tuple[list[dict[str, str]], list[float]]:
    """The newest issue per station, day, source and 12-hour cycle; and each one's delay in
    hours between its issue time and the trader's first sight of it."""
    kept: dict[tuple[str, date, str, datetime], ForecastIssue] = {}
    for f in issues:
        if not _in_period(f.target_date, since, until):
            continue
        key = (f.station, f.target_date, f.source, issue_cycle(f.issued_at))
        old = kept.get(key)
        if old is None or old.issued_at < f.issued_at:
            kept[key] = f
    rows: list[dict[str, str]] = []
    delays: list[float] = []
    for (station_id, day, _, _), f in sorted(kept.items(), key=lambda kv: (kv[0], kv[1].source)):
        station = by_icao(station_id)
        if station is None:
            continue
        end = climate_day_bounds(day, station)[0] + PERIOD_END.get(f.kind, DAY_END)
        rows.append(
            {
                "station": station_id,
                "target_date": day.isoformat(),
                "issued_at": _utc(f.issued_at),
                "source": f.source,
                "lead_hours": f"{(end - f.issued_at).total_seconds() / 3600.0:.2f}",
                "tmax_f": f"{f.tmax_f:g}",
                "sigma_f": "" if f.sigma_f is None else f"{f.sigma_f:g}",
            }
        )
        delays.append((f.first_seen - f.issued_at).total_seconds() / 3600.0)
    return rows, delays


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _card(summary: ExportSummary, delays: list[float], source: str, now: datetime) -> str:
    period = (
        "no events"
        if summary.first_day is None
        else f"{summary.first_day.isoformat()} -> {summary.last_day}"
    )
    delay = (
        "no forecast issues were recorded."
        if not delays
        else f"the trader first had an issue {median(delays):.2f} h after its issue time "
        f"(median; at most {max(delays):.2f} h)."
    )
    paragraphs = [
        f"Exported by `milkbot export-dataset` on {_utc(now)} from the trading database "
        f"{source}. Event days {period}: {summary.events} events, {summary.markets} markets, "
        f"{summary.quotes} quote rows, {summary.forecasts} forecast issues. "
        f"{summary.skipped_markets} recorded markets were left out (their snapshots predate "
        "strike recording, or the city is not registered).",
        "- `markets.csv`: each market's newest snapshot (strikes, open and close times, result "
        "and the settled value once Kalshi published them; empty while unknown).",
        "- `quotes.csv`: a **change log** of the best YES bid and ask: the trader stored a "
        "market's book whenever it changed and an unchanged one again every hour, so a row "
        "holds until the next row of the same ticker; a longer gap means the trader was "
        "stopped (`milkbot evaluate` takes no quote older than 3 h). An empty side means no "
        "bid (ask).",
        "- `forecasts.csv`: the forecast issues the trader's weather source kept, the newest "
        "of each 12-hour issue cycle per station, target day and source (the trader uses the "
        "same history). `lead_hours` runs to 19:00 local standard time for daytime highs, to "
        f"midnight for calendar-day maxima. `issued_at` is the provider's issue time; {delay}",
        "Licence: Kalshi market data is under Kalshi's terms; NWS forecasts are public "
        "domain. For the account holder's own evaluation; do not redistribute.",
    ]
    body = "\n\n".join(
        textwrap.fill(p, width=96, subsequent_indent="  " if p.startswith("- ") else "")
        for p in paragraphs
    )
    return f"# Recorded by a Milkbot trader\n\n{body}\n"


def export_recording(
    engine: Engine,
    out: Path,
    *,
    since: date | None = None,
    until: date | None = None,
    now: datetime,
) -> ExportSummary:
    """Write the trader's recording in ``engine`` (its trading database) as a dataset in ``out``.

    ``since``/``until`` bound the event (target) days, both inclusive. ``out`` must not exist
    or be empty: an export never mixes with other files.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty directory; choose a new one")
    with Session(engine) as session:
        snaps = list(
            session.scalars(select(MarketSnapshot).order_by(MarketSnapshot.ts, MarketSnapshot.id))
        )
        issues = list(session.scalars(select(ForecastIssue).order_by(ForecastIssue.id)))
    markets, tickers, skipped = _market_rows(snaps, since, until)
    quotes = _quote_rows(snaps, tickers)
    forecasts, delays = _forecast_rows(issues, since, until)
    days = sorted({date.fromisoformat(m["event_date"]) for m in markets})
    summary = ExportSummary(
        markets=len(markets),
        events=len({m["event_ticker"] for m in markets}),
        quotes=len(quotes),
        forecasts=len(forecasts),
        skipped_markets=skipped,
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "markets.csv", CANONICAL_COLUMNS["markets"], markets)
    _write_csv(out / "quotes.csv", CANONICAL_COLUMNS["quotes"], quotes)
    _write_csv(out / "forecasts.csv", CANONICAL_COLUMNS["forecasts"], forecasts)
    source = engine.url.render_as_string(hide_password=True)
    (out / "README.md").write_text(_card(summary, delays, source, now), encoding="utf-8")
    return summary
