"""Features as of a decision time use only inputs available then."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from milkbot.datasets import load_dataset
from milkbot.domain.brackets import is_partition
from milkbot.features.event import (
    build_index,
    climate_day_start,
    event_features,
    synthetic_brackets,
)
from tests.conftest import feb10_market_rows


def _write(directory: Path, name: str, rows: list[dict[str, object]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(directory / f"{name}.csv", index=False)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """One NYC event (tickers and bounds copied from KXHIGHNY-25FEB10 in the tape)."""
    d = tmp_path / "tiny"
    close = "2025-02-11T04:59:00Z"
    _write(
        d,
        "markets",
        feb10_market_rows(close),
    )
    _write(
        d,
        "quotes",
        [
            {
                "ticker": "KXHIGHNY-25FEB10-B34.5",
                "ts": "2025-02-10T15:00:00Z",
                "yes_bid": 40,
                "yes_ask": 44,
            },
            {
                "ticker": "KXHIGHNY-25FEB10-B34.5",
                "ts": "2025-02-10T17:30:00Z",
                "yes_bid": 90,
                "yes_ask": 95,
            },
            {
                "ticker": "KXHIGHNY-25FEB10-T37",
                "ts": "2025-02-10T16:00:00Z",
                "yes_bid": "",
                "yes_ask": 4,
            },
        ],
    )
    _write(
        d,
        "forecasts",
        [
            {
                "station": "KNYC",
                "target_date": "2025-02-10",
                "issued_at": "2025-02-10T12:50:00Z",
                "source": "nws-scs",
                "lead_hours": 11.2,
                "tmax_f": 34,
                "sigma_f": "",
            },
            {
                "station": "KNYC",
                "target_date": "2025-02-10",
                "issued_at": "2025-02-10T18:00:00Z",
                "source": "nws-scs",
                "lead_hours": 5.0,
                "tmax_f": 36,
                "sigma_f": "",
            },
        ],
    )
    _write(
        d,
        "observations",
        [
            {
                "station": "KNYC",
                "date": "2024-02-10",
                "tmax_f": 40,
                "tmin_f": 30,
                "source": "ghcnd",
            },
            {
                "station": "KNYC",
                "date": "2025-02-09",
                "tmax_f": 41,
                "tmin_f": 30,
                "source": "ghcnd",
            },
            {
                "station": "KNYC",
                "date": "2025-02-10",
                "tmax_f": 35,
                "tmin_f": 30,
                "source": "ghcnd",
            },
        ],
    )
    _write(
        d,
        "hourly",
        [
            {"station": "KNYC", "ts": f"2025-02-10T{h:02d}:00:00Z", "temp_f": 20 + h, "source": "x"}
            for h in range(5, 20)
        ],
    )
    return d


def test_features_as_of_decision_time(tiny: Path) -> None:
    index = build_index(load_dataset([tiny]))
    (event,) = index.events
    t = datetime(2025, 2, 10, 16, 59, tzinfo=UTC)
    f = event_features(index, event, t)
    # Only the forecast issued before t.
    assert [x.tmax_f for x in f.forecasts] == [34.0]
    # Hourly values from 05:00Z (climate-day start) up to t - 1 h: 05..15 -> max 35.
    assert f.running_max_f == 35.0 and f.hours_observed == 11.0
    # The quote at 17:30 is after t; the 15:00 one is used.
    assert f.market is not None
    idx = event.tickers.index("KXHIGHNY-25FEB10-B34.5")
    assert f.market[idx].prob == pytest.approx(0.42) and f.market[idx].scorable
    tail = f.market[event.tickers.index("KXHIGHNY-25FEB10-T37")]
    assert tail.prob == pytest.approx(0.02) and not tail.scorable
    # Climatology: earlier years only, never the event day or the same year.
    assert f.climatology == (40.0,)


def test_later_decision_sees_later_inputs(tiny: Path) -> None:
    index = build_index(load_dataset([tiny]))
    (event,) = index.events
    f = event_features(index, event, datetime(2025, 2, 10, 18, 30, tzinfo=UTC))
    assert [x.tmax_f for x in f.forecasts] == [34.0, 36.0]
    assert f.market is not None
    assert f.market[event.tickers.index("KXHIGHNY-25FEB10-B34.5")].prob == pytest.approx(0.925)


def test_price_older_than_three_hours_is_not_used(tiny: Path) -> None:
    index = build_index(load_dataset([tiny]))
    (event,) = index.events
    f = event_features(index, event, datetime(2025, 2, 10, 21, 0, tzinfo=UTC))
    assert f.market is not None
    tail = f.market[event.tickers.index("KXHIGHNY-25FEB10-T37")]
    assert tail.prob is None


def test_climate_day_is_local_standard_time() -> None:
    assert climate_day_start(date(2025, 7, 1), -5) == datetime(2025, 7, 1, 5, tzinfo=UTC)
    assert climate_day_start(date(2025, 7, 1), -8) - climate_day_start(
        date(2025, 7, 1), -5
    ) == timedelta(hours=3)


def test_synthetic_events_without_markets(tmp_path: Path, tiny: Path) -> None:
    d = tmp_path / "nomarkets"
    d.mkdir()
    for name in ("forecasts", "observations"):
        (d / f"{name}.csv").write_text((tiny / f"{name}.csv").read_text())
    index = build_index(load_dataset([d]))
    (event,) = index.events
    assert event.synthetic and is_partition(event.brackets)
    assert event.brackets == synthetic_brackets(34)
    assert sum(event.outcomes) == 1  # type: ignore[arg-type]


def test_station_observations_are_preferred_over_a_proxy_series(tiny: Path) -> None:
    rows = pd.read_csv(tiny / "hourly.csv").to_dict("records")
    rows.append(
        {"station": "KNYC", "ts": "2025-02-10T14:00:00Z", "temp_f": 31.0, "source": "metar"}
    )
    pd.DataFrame(rows).to_csv(tiny / "hourly.csv", index=False)
    index = build_index(load_dataset([tiny]))
    (event,) = index.events
    f = event_features(index, event, datetime(2025, 2, 10, 16, 59, tzinfo=UTC))
    assert f.running_max_observed and f.running_max_f == 31.0


def test_previous_day_maximum_is_a_feature_only_once_published(tiny: Path) -> None:
    index = build_index(load_dataset([tiny]))
    (event,) = index.events
    # 2025-02-09's climate day ends at 05:00Z on the 10th; it is published 6 h later.
    before = event_features(index, event, datetime(2025, 2, 10, 10, 59, tzinfo=UTC))
    after = event_features(index, event, datetime(2025, 2, 10, 11, 0, tzinfo=UTC))
    assert before.previous_max_f is None
    assert after.previous_max_f == 41.0
    pairs = index.forecast_pairs()
    # The 12:50Z issue was made after the previous maximum was published.
    assert list(pairs["prev_max"]) == [41.0, 41.0]


def test_previous_days_forecasts_are_features_as_of_decision_time(tmp_path: Path) -> None:
    d = tmp_path / "prev"
    rows = [
        ("2025-02-09", "2025-02-08T00:50:00Z", 40),
        ("2025-02-09", "2025-02-09T12:50:00Z", 44),
        ("2025-02-10", "2025-02-10T12:50:00Z", 50),
        ("2025-02-10", "2025-02-10T20:00:00Z", 52),
    ]
    _write(
        d,
        "forecasts",
        [
            {
                "station": "KNYC",
                "target_date": td,
                "issued_at": ia,
                "source": "nws-scs",
                "lead_hours": 12.0,
                "tmax_f": tx,
                "sigma_f": "",
            }
            for td, ia, tx in rows
        ],
    )
    _write(
        d,
        "observations",
        [
            {"station": "KNYC", "date": day, "tmax_f": v, "tmin_f": 30, "source": "ghcnd"}
            for day, v in (("2025-02-09", 47), ("2025-02-10", 51))
        ],
    )
    index = build_index(load_dataset([d]))
    event = next(e for e in index.events if e.event_date == date(2025, 2, 10))
    f = event_features(index, event, datetime(2025, 2, 10, 16, 59, tzinfo=UTC))
    assert [x.tmax_f for x in f.previous_forecasts] == [40.0, 44.0]
    pairs = index.forecast_pairs()
    today = pairs[pairs["target_date"] == date(2025, 2, 10)]
    # Each pair carries the previous day's forecast issued at least 24 h before it.
    assert list(today["prev_fc"]) == [44.0, 44.0]
