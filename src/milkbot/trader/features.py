"""Event features from what the trader sees live: the markets' books and the weather feed.

The same :class:`~milkbot.features.event.EventFeatures` the backtest builds from recorded
data, here built from the venue's market list and the weather known at the clock's now.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from milkbot.domain.brackets import Bracket
from milkbot.domain.market import Market
from milkbot.domain.stations import Station
from milkbot.domain.weather import Forecast
from milkbot.features.event import (
    OBS_DELAY,
    EventFeatures,
    ForecastInput,
    MarketPrice,
    climate_day_start,
)
from milkbot.trader.weather_feed import WeatherNow


def market_price(m: Market) -> MarketPrice:
    """The market's YES price now: the mid of a two-sided book, else one side or nothing."""
    bid = m.yes_bid if m.yes_bid is not None and m.yes_bid > 0 else None
    ask = m.yes_ask if m.yes_ask is not None and m.yes_ask < 1 else None
    if bid is not None and ask is not None:
        return MarketPrice(float((bid + ask) / 2), True, "quote", 0.0)
    if ask is not None:
        return MarketPrice(float(ask) / 2, False, "quote", 0.0)
    if bid is not None:
        return MarketPrice((1.0 + float(bid)) / 2, False, "quote", 0.0)
    return MarketPrice(None, False, None, None)


def live_features(
    station: Station,
    event_ticker: str,
    event_date: date,
    markets: list[Market],
    now: datetime,
    *,
    weather: WeatherNow | None = None,
) -> tuple[EventFeatures, datetime | None] | None:
    """Features of one event now, and the time of the newest weather input behind them.

    ``forecasts`` are every issue of the event's day in ``weather`` (live: the issue history
    :class:`~milkbot.trader.weather_feed.LiveWeather` keeps) issued by ``now``, oldest first,
    with ``hours_to_close`` from each issue, as the evaluator builds them from a dataset;
    ``previous_forecasts`` the same for the day before, with ``hours_to_close`` 24 h shorter.
    The day before's maximum is used once it was published by ``now`` and, as in the
    evaluator, no sooner than ``OBS_DELAY`` after that day ended. None when the event's
    markets lack brackets or a close time.
    """
    ms = [m for m in markets if m.event_ticker == event_ticker and m.bracket is not None]
    if not ms or any(m.close_time is None for m in ms):
        return None
    ms.sort(key=lambda m: _order(m.bracket))
    close = min(m.close_time for m in ms if m.close_time is not None)
    w = weather or WeatherNow("none")
    forecasts = _issued_by(w.forecasts, event_date, now, close, 0.0)
    before = event_date - timedelta(days=1)
    previous_forecasts = _issued_by(w.previous_forecasts, before, now, close, 24.0)
    previous_max = None
    if (
        w.previous_max_at is not None
        and w.previous_max_at <= now
        and climate_day_start(event_date, station.std_offset_hours) + OBS_DELAY <= now
    ):
        previous_max = w.previous_max_f
    observed_at = w.observed_at if w.observed_at is not None and w.observed_at <= now else None
    issued = max((f.issued_at for f in forecasts), default=None)
    weather_time = max((t for t in (observed_at, issued) if t is not None), default=None)
    features = EventFeatures(
        event_ticker=event_ticker,
        city=station.city,
        station=station.icao,
        event_date=event_date,
        decision_time=now,
        close_time=close,
        std_offset_hours=station.std_offset_hours,
        tickers=tuple(m.ticker for m in ms),
        brackets=tuple(m.bracket for m in ms if m.bracket is not None),
        market=tuple(market_price(m) for m in ms),
        forecasts=forecasts,
        running_max_f=w.running_max_f,
        hours_observed=w.hours_observed,
        running_max_observed=w.station_observed,
        previous_max_f=previous_max,
        previous_forecasts=previous_forecasts,
    )
    return features, weather_time


def _issued_by(
    forecasts: tuple[Forecast, ...], day: date, now: datetime, close: datetime, shift: float
) -> tuple[ForecastInput, ...]:
    """The forecasts of ``day`` issued by ``now`` in the evaluator's order and terms."""
    rows = sorted(
        (
            (f.issued_at, f.source, f.tmax_f, f)
            for f in forecasts
            if f.issued_at is not None and f.issued_at <= now and f.target_date == day
        ),
        key=lambda x: x[:3],
    )
    return tuple(
        ForecastInput(
            source=f.source,
            issued_at=issued_at,
            tmax_f=f.tmax_f,
            sigma_f=f.sigma_f,
            hours_to_close=(close - issued_at).total_seconds() / 3600.0 - shift,
        )
        for issued_at, _, _, f in rows
    )


def _order(bracket: Bracket | None) -> tuple[float, float]:
    assert bracket is not None
    lo = bracket.lowest
    hi = bracket.highest
    return (float("-inf") if lo is None else lo, float("inf") if hi is None else hi)
