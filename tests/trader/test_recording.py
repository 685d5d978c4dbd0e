"""``milkbot export-dataset``: the trader's recording as a dataset that ``evaluate`` scores.

The trader runs against the real local exchange replaying the bundled tape, on a real SQLite
(and, for the export alone, PostgreSQL); the forecasts come from a weather source standing in
for NWS, which this machine cannot reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from milkbot import bundled
from milkbot.backtest.runner import BacktestConfig, run_backtest
from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.domain.stations import Station
from milkbot.domain.weather import Forecast
from milkbot.errors import ConfigError
from milkbot.evaluation.report import write_outputs
from milkbot.evaluation.runner import evaluate_dataset
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, create_trading_sync_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import ForecastIssue, MarketSnapshot
from milkbot.trader.export import Exporter
from milkbot.trader.recording import export_recording
from milkbot.trader.service import Trader
from milkbot.trader.weather_feed import HourlyTemperatures, WeatherNow
from milkbot.venues.exchange.server import KeyRegistry, build_state, create_app
from milkbot.venues.kalshi.client import KalshiClient
from tests.ops.conftest import cli_env
from tests.servers import ThreadedServer

DAY = date(2025, 4, 6)
START = datetime(2025, 4, 6, 10, tzinfo=UTC)
ISSUES = (  # (issued_at, tmax_f): two updates in the 12:50Z cycle, one in the next
    (datetime(2025, 4, 6, 9, 0, tzinfo=UTC), 61.0),
    (datetime(2025, 4, 6, 11, 30, tzinfo=UTC), 63.0),
    (datetime(2025, 4, 6, 14, 0, tzinfo=UTC), 64.0),
)


class ForecastingWeather:
    """The bundled hourly temperatures plus NWS-like forecast issues of ``DAY``."""

    def __init__(self) -> None:
        self._hourly = HourlyTemperatures(bundled.path("openmeteo-hourly-demo"))

    async def current(self, station: Station, day: date, as_of: datetime) -> WeatherNow:
        now = await self._hourly.current(station, day, as_of)
        issues = tuple(
            Forecast(
                source="nws-forecast",
                station=station.icao,
                target_date=DAY,
                issued_at=t,
                tmax_f=v,
                kind="daytime-high",
            )
            for t, v in ISSUES
            if t <= as_of and day == DAY
        )
        return replace(now, forecasts=issues)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def exchange(clock: FixedClock) -> Iterator[ThreadedServer]:
    dataset = load_dataset([bundled.path("kalshi-tape-demo")])
    with ThreadedServer(create_app(build_state(dataset, clock, keys=KeyRegistry()))) as ex:
        yield ex


async def _record(settings: Settings, exchange: ThreadedServer, clock: FixedClock) -> None:
    """Run the trader hourly through ``DAY``, restart it once, then until the day settles."""
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    exporter = Exporter(sessions)
    client = KalshiClient(exchange.url + "/trade-api/v2")

    def trader() -> Trader:
        return Trader(
            mode="demo",
            client=client,
            clock=clock,
            sessions=sessions,
            exporter=exporter,
            weather=ForecastingWeather(),
        )

    try:
        first = trader()
        await first.load_state()
        for _ in range(6):  # 10:00Z .. 15:00Z
            await first.step()
            clock.advance(timedelta(hours=1))
        again = trader()  # a restart must not record the issues twice
        await again.load_state()
        for _ in range(4):
            await again.step()
            clock.advance(timedelta(hours=1))
        clock.advance(timedelta(days=2))
        for _ in range(50):  # the exchange applies the replay on its own tick
            await again.step()
            async with sessions() as s:
                rows = (await s.scalars(select(MarketSnapshot))).all()
            settled = {r.market_ticker for r in rows if r.payload.get("result")}
            if len({t for t in settled if "25APR06" in t}) == 30:
                break
            await asyncio.sleep(0.1)

        # Two hours on, open markets are stored again though unchanged; settled ones are not.
        async def rows_per_day() -> dict[str, int]:
            async with sessions() as s:
                tickers = (await s.scalars(select(MarketSnapshot.market_ticker))).all()
            return {d: sum(d in t for t in tickers) for d in ("25APR06", "25APR08")}

        before = await rows_per_day()
        clock.advance(timedelta(hours=2))
        await again.step()
        after = await rows_per_day()
        assert after["25APR06"] == before["25APR06"]
        assert after["25APR08"] >= before["25APR08"] + 30
        await exporter.drain()
    finally:
        await client.aclose()
        await engine.dispose()


async def test_recording_exports_a_dataset_that_evaluate_scores(
    exchange: ThreadedServer, clock: FixedClock, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    await _record(settings, exchange, clock)
    engine = create_trading_sync_engine(settings)
    with Session(engine) as s:
        assert s.scalar(select(func.count(ForecastIssue.id))) == 5 * len(ISSUES)
    out = tmp_path / "recorded"
    summary = export_recording(engine, out, now=clock.now())
    with pytest.raises(ConfigError, match="not an empty directory"):
        export_recording(engine, out, now=clock.now())
    engine.dispose()

    assert summary.first_day == DAY and summary.skipped_markets == 0
    markets = pd.read_csv(out / "markets.csv", keep_default_na=False, dtype=str)
    tape = pd.read_csv(
        bundled.path("kalshi-tape-demo") / "markets.csv", keep_default_na=False, dtype=str
    )
    cols = ["ticker", "event_ticker", "city", "station", "event_date", "strike_type"]
    cols += ["floor_strike", "cap_strike", "close_time"]
    day = markets[markets["event_date"] == DAY.isoformat()].sort_values("ticker")
    truth = tape[tape["ticker"].isin(day["ticker"])].sort_values("ticker")
    assert len(day) == 30
    # Strikes, times and the settled results are the exchange's, i.e. the tape's.
    assert day[cols].reset_index(drop=True).equals(truth[cols].reset_index(drop=True))
    assert list(day["result"]) == list(truth["result"])
    assert list(day["expiration_value"].astype(float)) == list(
        truth["expiration_value"].astype(float)
    )

    quotes = pd.read_csv(out / "quotes.csv", keep_default_na=False)
    assert len(quotes) == summary.quotes and set(quotes["ticker"]) <= set(markets["ticker"])
    # While the trader ran (10:00Z-19:00Z, hourly steps) every open market has a row at least
    # hourly, changed or not: a quiet book stays priced, a gap in the recording does not.
    ran = quotes[(quotes["ts"] <= "2025-04-06T19:00:00Z") & quotes["ticker"].isin(day["ticker"])]
    assert (ran.groupby("ticker").size() == 10).all() and ran["ticker"].nunique() == 30
    both = quotes[(quotes["yes_bid"] != "") & (quotes["yes_ask"] != "")]
    assert len(both) > 0 and (both["yes_bid"].astype(int) <= both["yes_ask"].astype(int)).all()

    forecasts = pd.read_csv(out / "forecasts.csv", keep_default_na=False)
    nyc = forecasts[forecasts["station"] == "KNYC"].sort_values("issued_at")
    # One issue per 12-hour cycle: the 11:30Z update replaced the 09:00Z one.
    assert list(nyc["issued_at"]) == ["2025-04-06T11:30:00Z", "2025-04-06T14:00:00Z"]
    assert list(nyc["tmax_f"]) == [63, 64]
    assert list(nyc["lead_hours"]) == [12.5, 10.0]  # to 19:00 EST = 00:00Z
    assert "first had an issue" in (out / "README.md").read_text()

    # `evaluate` reads the export: decisions at close - 12 h = 16:59Z find the recorded book
    # and the forecasts issued by then.
    run = evaluate_dataset(load_dataset([out]), 12.0)
    doc = write_outputs(run, tmp_path / "eval", [str(out)])
    assert doc["market"] is not None and doc["gaussian"] is not None
    rows = run.rows().set_index("ticker")
    expected: dict[str, float | None] = {}  # the mid of the book recorded by the decision
    for ticker, close in zip(day["ticker"], day["close_time"], strict=True):
        decision = (pd.Timestamp(close) - pd.Timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
        book = quotes[(quotes["ticker"] == ticker) & (quotes["ts"] <= decision)].iloc[-1]
        two_sided = book["yes_bid"] != "" and book["yes_ask"] != ""
        expected[ticker] = (
            (int(book["yes_bid"]) + int(book["yes_ask"])) / 200 if two_sided else None
        )
    assert sum(v is not None for v in expected.values()) >= 20
    for ticker, mid in expected.items():
        assert bool(rows.loc[ticker, "market_scorable"]) == (mid is not None)
        if mid is not None:
            assert rows.loc[ticker, "market"] == pytest.approx(mid)
    nyc_event = next(r for r in run.results if r.event.event_ticker == "KXHIGHNY-25APR06")
    assert [f.tmax_f for f in nyc_event.features.forecasts] == [63.0, 64.0]

    # ... and so does the backtest: the settled days replay through `decide`.
    replay = await run_backtest(load_dataset([out]), BacktestConfig())
    assert {e.event_date for e in replay.events} == {DAY, DAY + timedelta(days=1)}
    assert replay.decisions


def _one_market_and_issue(settings: Settings) -> datetime:
    """Migrate ``settings``' database and store one snapshot and one forecast issue."""
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seen = datetime(2025, 4, 6, 12, tzinfo=UTC)
    with Session(engine) as s:
        s.add_all(
            [
                MarketSnapshot(
                    market_ticker="KXHIGHNY-25APR06-B62.5",
                    event_ticker="KXHIGHNY-25APR06",
                    ts=seen,
                    yes_bid=None,
                    yes_ask=Decimal("0.40"),
                    last_price=None,
                    volume=None,
                    status="active",
                    close_time=datetime(2025, 4, 7, 4, 59, tzinfo=UTC),
                    rules_url=None,
                    payload={"strike_type": "between", "floor_strike": "62", "cap_strike": "63"},
                ),
                ForecastIssue(
                    station="KNYC",
                    target_date=DAY,
                    source="nws-forecast",
                    kind="calendar-max",
                    issued_at=seen - timedelta(hours=1),
                    tmax_f=62.5,
                    sigma_f=2.0,
                    first_seen=seen,
                ),
            ]
        )
        s.commit()
    engine.dispose()
    return seen


def test_export_reads_postgresql(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    seen = _one_market_and_issue(settings)
    engine = create_trading_sync_engine(settings)
    summary = export_recording(engine, tmp_path / "out", now=seen)
    engine.dispose()
    assert (summary.markets, summary.quotes, summary.forecasts) == (1, 1, 1)
    ds = load_dataset([tmp_path / "out"])
    assert ds.forecasts is not None
    assert float(ds.forecasts["lead_hours"].iloc[0]) == 18.0  # to 24:00 EST
    assert ds.quotes is not None
    assert ds.quotes["yes_bid"].isna().all() and list(ds.quotes["yes_ask"]) == [40]


def _trader_app() -> typer.Typer:
    from milkbot.trader.commands import register

    app = typer.Typer()
    register(app)
    return app


def _text(output: str) -> str:
    """A command's message without the error box's frame and line breaks."""
    return " ".join(output.replace("│", " ").split())


def test_export_command(tmp_path: Path) -> None:
    app = _trader_app()
    env = cli_env(MILKBOT_DATA_DIR=str(tmp_path / "var"))
    refused = CliRunner().invoke(app, ["export-dataset", "--out", str(tmp_path / "a")], env=env)
    assert refused.exit_code == 2 and "no trader has run" in _text(refused.output)
    _one_market_and_issue(Settings(data_dir=tmp_path / "var", _env_file=None))  # type: ignore[call-arg]
    done = CliRunner().invoke(app, ["export-dataset", "--out", str(tmp_path / "a")], env=env)
    assert done.exit_code == 0, done.output
    assert "1 events, 1 markets, 1 quote rows, 1 forecast issues" in done.output
    again = CliRunner().invoke(app, ["export-dataset", "--out", str(tmp_path / "a")], env=env)
    assert again.exit_code == 2 and "not an empty directory" in _text(again.output)
