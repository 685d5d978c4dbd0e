"""The station registry: which NWS station and CLI report settles each city's Kalshi series.

The ten cities below are the ones whose settlement station is confirmed by Kalshi's series
metadata and ``rules_primary`` text (see ``shared/notes/kalshi-api.md`` section 11 and
``shared/notes/weather.md`` section 1). Discovery checks each against the live rules text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from milkbot.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Station:
    """One city's settlement site.

    Parameters
    ----------
    city : str
        Short city code used throughout Milkbot and in the datasets (``NYC``).
    name : str
        Human-readable city name.
    series : str
        Current Kalshi daily-high series ticker.
    legacy_series : tuple[str, ...]
        Older series tickers Kalshi issued for the same contract.
    icao : str
        Settlement station (ICAO).
    site : str
        The site named in the rules and the CLI headline.
    rules_keyword : str
        A phrase that must appear in the market's ``rules_primary``.
    cli_product : str
        The AFOS PIL of the Daily Climate Report (``CLINYC``).
    wfo : str
        The NWS forecast office.
    latitude, longitude : float
        Station coordinates (degrees).
    tz : str
        IANA time zone of the station.
    std_offset_hours : int
        UTC offset of local standard time, which defines the climate day.
    """

    city: str
    name: str
    series: str
    legacy_series: tuple[str, ...]
    icao: str
    site: str
    rules_keyword: str
    cli_product: str
    wfo: str
    latitude: float
    longitude: float
    tz: str
    std_offset_hours: int

    @property
    def zone(self) -> ZoneInfo:
        """The station's IANA zone."""
        return ZoneInfo(self.tz)

    @property
    def standard_offset(self) -> timedelta:
        """UTC offset of local standard time (the climate day's clock)."""
        return timedelta(hours=self.std_offset_hours)

    @property
    def cli_location(self) -> str:
        """The NWS API location code of the CLI product (last three letters of the PIL)."""
        return self.cli_product[3:]


STATIONS: tuple[Station, ...] = (
    Station(
        "NYC",
        "New York",
        "KXHIGHNY",
        ("HIGHNY",),
        "KNYC",
        "Central Park",
        "Central Park",
        "CLINYC",
        "OKX",
        40.7789,
        -73.9692,
        "America/New_York",
        -5,
    ),
    Station(
        "CHI",
        "Chicago",
        "KXHIGHCHI",
        ("HIGHCHI",),
        "KMDW",
        "Chicago Midway",
        "Midway",
        "CLIMDW",
        "LOT",
        41.7860,
        -87.7524,
        "America/Chicago",
        -6,
    ),
    Station(
        "MIA",
        "Miami",
        "KXHIGHMIA",
        ("HIGHMIA",),
        "KMIA",
        "Miami International",
        "Miami",
        "CLIMIA",
        "MFL",
        25.7881,
        -80.3169,
        "America/New_York",
        -5,
    ),
    Station(
        "AUS",
        "Austin",
        "KXHIGHAUS",
        ("HIGHAUS",),
        "KAUS",
        "Austin-Bergstrom",
        "Austin",
        "CLIAUS",
        "EWX",
        30.1831,
        -97.6799,
        "America/Chicago",
        -6,
    ),
    Station(
        "DEN",
        "Denver",
        "KXHIGHDEN",
        ("KXDENHIGH",),
        "KDEN",
        "Denver International",
        "Denver",
        "CLIDEN",
        "BOU",
        39.8466,
        -104.6562,
        "America/Denver",
        -7,
    ),
    Station(
        "LAX",
        "Los Angeles",
        "KXHIGHLAX",
        (),
        "KLAX",
        "Los Angeles International",
        "Los Angeles",
        "CLILAX",
        "LOX",
        33.9382,
        -118.3866,
        "America/Los_Angeles",
        -8,
    ),
    Station(
        "PHL",
        "Philadelphia",
        "KXHIGHPHIL",
        ("KXPHILHIGH",),
        "KPHL",
        "Philadelphia International",
        "Philadelphia",
        "CLIPHL",
        "PHI",
        39.8733,
        -75.2268,
        "America/New_York",
        -5,
    ),
    Station(
        "HOU",
        "Houston",
        "KXHIGHTHOU",
        ("KXHIGHHOU", "KXHIGHOU"),
        "KHOU",
        "Houston Hobby",
        "Hobby",
        "CLIHOU",
        "HGX",
        29.6375,
        -95.2825,
        "America/Chicago",
        -6,
    ),
    Station(
        "DAL",
        "Dallas",
        "KXHIGHTDAL",
        (),
        "KDFW",
        "Dallas/Fort Worth International",
        "Dallas",
        "CLIDFW",
        "FWD",
        32.8978,
        -97.0189,
        "America/Chicago",
        -6,
    ),
    Station(
        "DC",
        "Washington",
        "KXHIGHTDC",
        (),
        "KDCA",
        "Washington Reagan National",
        "Reagan",
        "CLIDCA",
        "LWX",
        38.8483,
        -77.0342,
        "America/New_York",
        -5,
    ),
)

_BY_CITY = {s.city: s for s in STATIONS}
_BY_ICAO = {s.icao: s for s in STATIONS}
_BY_SERIES = {t: s for s in STATIONS for t in (s.series, *s.legacy_series)}


def by_city(city: str) -> Station:
    """Return the station of a city code; raise :class:`ConfigError` for an unknown code."""
    try:
        return _BY_CITY[city.upper()]
    except KeyError:
        known = ", ".join(sorted(_BY_CITY))
        raise ConfigError(f"unknown city {city!r}; known cities: {known}") from None


def by_icao(icao: str) -> Station | None:
    """Return the station with this ICAO code, or None."""
    return _BY_ICAO.get(icao.upper())


def by_series(series_ticker: str) -> Station | None:
    """Return the station of a Kalshi series ticker (current or legacy), or None."""
    return _BY_SERIES.get(series_ticker.upper())


def by_ticker(ticker: str) -> Station | None:
    """Return the station of a market or event ticker (``KXHIGHNY-25JAN10-B49.5``), or None.

    Relisted legacy events carry a numeric suffix (``HIGHCHI-2-24FEB28``); the series is the
    ticker's first dash-separated part in every case.
    """
    return by_series(ticker.split("-", 1)[0])
