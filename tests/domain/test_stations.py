"""The station registry."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from milkbot.domain import stations
from milkbot.errors import ConfigError


def test_ten_cities_with_unique_codes_and_valid_zones() -> None:
    assert len(stations.STATIONS) >= 10
    for field in ("city", "series", "icao", "cli_product"):
        values = [getattr(s, field) for s in stations.STATIONS]
        assert len(values) == len(set(values)), field
    for s in stations.STATIONS:
        ZoneInfo(s.tz)
        assert s.cli_product.startswith("CLI") and len(s.cli_location) == 3
        assert -11 <= s.std_offset_hours <= -4
        assert 24 < s.latitude < 50 and -125 < s.longitude < -66


def test_confirmed_settlement_stations() -> None:
    # Chicago settles at Midway, Houston at Hobby, Dallas at DFW (notes/kalshi-api.md 11.1).
    assert stations.by_city("CHI").icao == "KMDW"
    assert stations.by_city("HOU").icao == "KHOU"
    assert stations.by_city("DAL").icao == "KDFW"
    assert stations.by_city("nyc").series == "KXHIGHNY"


def test_lookup_by_ticker_handles_legacy_and_relisted_events() -> None:
    assert stations.by_ticker("KXHIGHNY-25JAN10-B49.5") is stations.by_city("NYC")
    assert stations.by_ticker("HIGHCHI-2-24FEB28") is stations.by_city("CHI")
    assert stations.by_ticker("KXRAINNYC-25JAN10") is None


def test_unknown_city_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="known cities"):
        stations.by_city("ATLANTIS")
