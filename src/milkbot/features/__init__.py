"""Features of an event as of a decision time, built from recorded inputs only."""

from __future__ import annotations

from milkbot.features.event import (
    DatasetIndex,
    Event,
    EventFeatures,
    ForecastInput,
    MarketPrice,
    build_index,
    climate_day_start,
    event_features,
    market_prices,
)

__all__ = [
    "DatasetIndex",
    "Event",
    "EventFeatures",
    "ForecastInput",
    "MarketPrice",
    "build_index",
    "climate_day_start",
    "event_features",
    "market_prices",
]
