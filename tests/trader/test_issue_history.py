"""The event day's forecast issues, live: a history like the datasets' SCS issues.

The recorded raw grid (pynws, 2022-02-04) is served at the httpx transport with its timestamps
moved back (:func:`~tests.trader.test_previous_day.shifted_grid`) so that successive refreshes
see grids issued at different times: moved back 24 h, the grid's forecast for 2014-11-30 is the
recorded one for 2022-02-05 (55 degF), moved back 0 h the one for 2022-02-04 (72 degF). Values
and layout are untouched.
"""

from __future__ import annotations

import dataclasses
import statistics
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.domain.market import Market
from milkbot.features.event import EventFeatures, build_index, event_features
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import ForecastIssue
from milkbot.strategies.nws import NwsStrategy, issue_variance
from milkbot.strategies.params import load_params
from milkbot.trader.export import Exporter
from milkbot.trader.features import live_features
from milkbot.trader.service import Trader
from milkbot.trader.weather_feed import LiveWeather, WeatherNow, first_cycle, issue_cycle
from tests.trader.test_live_weather import live, markets_for
from tests.trader.test_previous_day import (
    GRID_SHIFT,
    HOU,
    hou_upstream,
    shifted_grid,
    write_dataset,
)
from tests.weather.conftest import body

DAY = date(2014, 11, 30)
# Grid updateTime 2022-02-04T03:15:41Z moved back by GRID_SHIFT (whole days) and these hours.
UPDATE = datetime(2014, 11, 30, 3, 15, 41, tzinfo=UTC)


async def refreshed(steps: list[tuple[datetime, int]], day: date = DAY) -> WeatherNow:
    """LiveWeather for ``day`` after a refresh at each time, the grid moved back by the hours."""
    upstream = hou_upstream()
    clock = FixedClock(steps[0][0])
    weather = live(upstream, clock, timedelta(minutes=10))
    now = WeatherNow("none")
    for at, hours in steps:
        clock.advance(at - clock.now())
        grid = shifted_grid(timedelta(days=GRID_SHIFT.days, hours=hours))
        upstream.routes["/gridpoints/TAE/58,65"] = [body(grid)]
        now = await weather.current(HOU, day, clock.now())
    return now


def features_at(now: WeatherNow, at: datetime, day: date = DAY) -> EventFeatures:
    """Live features of the HOU event of ``day`` at ``at`` from ``now``."""
    markets = markets_for(HOU, "KXHIGHTHOU", day)
    built = live_features(HOU, markets[0].event_ticker, day, markets, at, weather=now)
    assert built is not None
    return built[0]


TWO_CYCLES = [
    (datetime(2014, 11, 29, 4, tzinfo=UTC), 24),  # updateTime 2014-11-29 03:15:41Z
    (datetime(2014, 11, 30, 4, tzinfo=UTC), 0),  # updateTime 2014-11-30 03:15:41Z
]


def test_issue_cycles_are_the_scs_issuance_times() -> None:
    assert issue_cycle(datetime(2014, 11, 29, 0, 50, tzinfo=UTC)) == datetime(
        2014, 11, 29, 0, 50, tzinfo=UTC
    )
    assert issue_cycle(datetime(2014, 11, 29, 0, 51, tzinfo=UTC)) == datetime(
        2014, 11, 29, 12, 50, tzinfo=UTC
    )
    assert issue_cycle(datetime(2014, 11, 29, 23, 0, tzinfo=UTC)) == datetime(
        2014, 11, 30, 0, 50, tzinfo=UTC
    )
    assert first_cycle(DAY) == datetime(2014, 11, 29, 0, 50, tzinfo=UTC)


async def test_two_refreshes_give_two_issues_in_the_live_features() -> None:
    now = await refreshed(TWO_CYCLES)
    first, second = UPDATE - timedelta(hours=24), UPDATE
    assert [(f.source, f.issued_at, f.tmax_f) for f in now.forecasts] == [
        ("nws-grid-hourly", first, 55.0),
        ("nws-grid-maxt", first, 55.0),
        ("nws-grid-hourly", second, 72.0),
        ("nws-grid-maxt", second, 72.0),
    ]
    features = features_at(now, datetime(2014, 11, 30, 15, tzinfo=UTC))
    assert [(f.source, f.issued_at, f.tmax_f) for f in features.forecasts] == [
        (f.source, f.issued_at, f.tmax_f) for f in now.forecasts
    ]
    for f in features.forecasts:
        assert f.hours_to_close == (features.close_time - f.issued_at).total_seconds() / 3600
    latest = features.latest_forecast({"nws-grid-maxt"})
    assert latest is not None and latest.tmax_f == 72.0
    assert issue_variance(features, latest) == statistics.variance([55.0, 72.0])


async def test_grid_updates_within_one_cycle_are_one_issue() -> None:
    # 15:15:41Z and 00:15:41Z both end with the 00:50Z issue: only the newer is kept.
    now = await refreshed(
        [
            (datetime(2014, 11, 29, 16, tzinfo=UTC), 12),
            (datetime(2014, 11, 30, 0, 30, tzinfo=UTC), 3),
            (datetime(2014, 11, 30, 4, tzinfo=UTC), 0),
        ]
    )
    assert {f.issued_at for f in now.forecasts} == {UPDATE - timedelta(hours=3), UPDATE}
    assert len(now.forecasts) == 4
    # The older update's value (71 degF hourly) is gone with it.
    assert [f.tmax_f for f in now.forecasts if f.source == "nws-grid-hourly"] == [72.0, 72.0]


async def test_an_issue_dated_after_now_is_not_used() -> None:
    now = await refreshed(TWO_CYCLES)
    between = datetime(2014, 11, 30, 3, tzinfo=UTC)  # after the first issue, before the second
    markets = markets_for(HOU, "KXHIGHTHOU", DAY)
    built = live_features(HOU, markets[0].event_ticker, DAY, markets, between, weather=now)
    assert built is not None
    features, weather_time = built
    assert {f.issued_at for f in features.forecasts} == {UPDATE - timedelta(hours=24)}
    assert weather_time == UPDATE - timedelta(hours=24)
    # A grid stamped after the fetch's now is neither served nor kept; a later fetch takes it.
    early = await refreshed([(datetime(2014, 11, 30, 3, tzinfo=UTC), 0)])
    assert early.forecasts == () and early.latest is None
    later = await refreshed(
        [(datetime(2014, 11, 30, 3, tzinfo=UTC), 0), (datetime(2014, 11, 30, 3, 20, tzinfo=UTC), 0)]
    )
    assert {f.issued_at for f in later.forecasts} == {UPDATE}


async def test_issues_before_the_days_first_cycle_are_left_out() -> None:
    # Issued 2014-11-28 03:15:41Z: before 11-29 00:50Z's cycle opened (11-28 12:50Z), so not
    # an issue of the 30th (the SCS product's first is 48 h ahead), but one of the 29th.
    now = await refreshed([(datetime(2014, 11, 28, 4, tzinfo=UTC), 48)])
    assert now.forecasts == ()
    assert {(f.target_date, f.issued_at) for f in now.previous_forecasts} == {
        (date(2014, 11, 29), UPDATE - timedelta(hours=48))
    }


async def test_live_and_evaluator_agree_on_the_issue_history(tmp_path: Path) -> None:
    now = await refreshed(
        [*TWO_CYCLES, (datetime(2014, 11, 30, 15, tzinfo=UTC), 0)]  # the grid unchanged
    )
    write_dataset(tmp_path, now, markets_for(HOU, "KXHIGHTHOU", DAY), DAY)
    index = build_index(load_dataset([tmp_path]))
    (event,) = index.events
    strategy = NwsStrategy(table=load_params().nws)
    for at in (
        datetime(2014, 11, 29, 12, tzinfo=UTC),
        datetime(2014, 11, 30, 3, tzinfo=UTC),
        datetime(2014, 11, 30, 15, tzinfo=UTC),
    ):
        live_built = features_at(now, at)
        evaluated = event_features(index, event, at)
        assert evaluated.forecasts == live_built.forecasts
        assert evaluated.previous_forecasts == live_built.previous_forecasts
        a, b = strategy.predict(live_built), strategy.predict(evaluated)
        assert a is not None and b is not None
        # The evaluator lists the brackets by ticker, the trader by strike.
        assert dict(zip(live_built.tickers, a.probabilities, strict=True)) == dict(
            zip(evaluated.tickers, b.probabilities, strict=True)
        )
        assert a.features_used == b.features_used
    assert len(live_built.forecasts) == 4
    # The history widens the spread: the latest issue alone gives a narrower distribution.
    alone = dataclasses.replace(live_built, forecasts=live_built.forecasts[2:])
    wide, narrow = strategy.predict(live_built), strategy.predict(alone)
    assert wide is not None and narrow is not None
    assert wide.uncertainty > narrow.uncertainty


class HouMarkets:
    """The exchange's answer for HOU: the day's markets (real recorded ones, moved)."""

    async def get_markets(self, *, series_ticker: str) -> list[Market]:
        return markets_for(HOU, series_ticker, DAY)


async def test_a_restarted_trader_takes_back_its_issue_history(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    upstream = hou_upstream()
    clock = FixedClock(TWO_CYCLES[0][0])

    async def recorded() -> int:
        async with sessions() as s:
            return int(await s.scalar(select(func.count(ForecastIssue.id))) or 0)

    def trader(weather: LiveWeather) -> Trader:
        return Trader(
            mode="paper",
            client=HouMarkets(),
            clock=clock,
            sessions=sessions,
            exporter=Exporter(sessions),
            weather=weather,
            stations=(HOU,),
        )

    try:
        first = trader(live(upstream, clock, timedelta(minutes=10)))
        await first.load_state()
        for at, hours in TWO_CYCLES:  # one refresh per SCS cycle, as in the tests above
            clock.advance(at - clock.now())
            grid = shifted_grid(timedelta(days=GRID_SHIFT.days, hours=hours))
            upstream.routes["/gridpoints/TAE/58,65"] = [body(grid)]
            await first.step()
        had = await first._weather.current(HOU, DAY, clock.now())  # type: ignore[union-attr]
        assert len(had.forecasts) == 4  # two sources x two cycles
        before = await recorded()  # the day's four and the day before's seen with them
        assert before > 4

        # Restarted an hour later while NWS is down: the history comes from the database.
        clock.advance(timedelta(hours=1))
        upstream.routes["/gridpoints/TAE/58,65"] = [body({"title": "down"}, status=503)]
        weather = live(upstream, clock, timedelta(minutes=10))
        again = trader(weather)
        await again.load_state()
        now = await weather.current(HOU, DAY, clock.now())
        assert now.forecasts == had.forecasts
        # ... and what it took back is not recorded a second time.
        await again.step()
        assert await recorded() == before
    finally:
        await engine.dispose()
