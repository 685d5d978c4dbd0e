"""Event features as of a decision time, from recorded inputs only.

Rules (no look-ahead):

* a forecast is usable only if ``issued_at <= decision_time``, and never one whose source is
  an archive of model analyses (``open-meteo-historical-forecast``) unless it was issued
  before the decision time like any other row (its card sets ``issued_at`` to the end of the
  day, so it is never usable for that same day);
* an hourly value stamped ``ts`` is known only from ``ts + 1 h``;
* a daily observation is known only 6 h after its climate day ends, and climatology uses
  earlier years only (never the event day's own maximum); the previous day's observed
  maximum is a feature only once it is known (a warm evening before a cold front can set the
  next climate day's maximum just after midnight);
* a market price is the last quote (or trade) with ``ts <= decision_time`` and at most
  ``MAX_PRICE_AGE`` old; a market's recent prints are those with ``ts <= decision_time`` in
  the ``PRINT_WINDOW`` before its last print (so a stale market keeps its last burst);
* a settled label is known only ``LABEL_DELAY`` after the market's close.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from milkbot.datasets import Dataset
from milkbot.domain.brackets import Bracket, is_partition
from milkbot.domain.stations import by_icao
from milkbot.errors import DataError

MAX_PRICE_AGE = timedelta(hours=3)
PRINT_WINDOW = timedelta(hours=3)
MAX_PRINTS = 200  # most recent prints kept per market
LABEL_DELAY = timedelta(hours=12)
OBS_DELAY = timedelta(hours=6)
HOURLY_DELAY = timedelta(hours=1)
CLIMATOLOGY_WINDOW_DAYS = 15
# Sources whose rows are archives of analyses, not advance forecasts (their cards say so).
ARCHIVE_SOURCES = frozenset({"open-meteo-historical-forecast"})
# Observation sources that measure the settlement quantity (calendar-day max, LST).
SETTLEMENT_OBS_SOURCES = ("cli", "ghcnd")
# Proxy truth (NWS daytime high): used only to fit forecast errors when nothing better exists.
PROXY_OBS_SOURCES = ("nws-scs-daytime",)
# Hourly sources that are the settlement station's own observations (else a proxy series).
OBSERVED_HOURLY_SOURCES = frozenset({"metar", "asos", "nws-observations"})


@dataclass(frozen=True, slots=True)
class TradePrint:
    """One execution of a market known at the decision time."""

    age_hours: float  # decision time minus the print's time
    prob: float  # YES price / 100
    count: float  # contracts
    taker_yes: bool | None  # the aggressor bought YES (printed at the ask); None if unknown


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """The market's YES price of one bracket at the decision time.

    ``prints`` (trade datasets only) are the market's executions with ``ts <= decision_time``
    in the ``PRINT_WINDOW`` before its last one, oldest first; empty where only quotes (or
    one print) are known.
    """

    prob: float | None
    scorable: bool  # two-sided quote, or a trade at most MAX_PRICE_AGE old
    kind: str | None  # "quote", "trade", "stale" or None
    age_hours: float | None
    prints: tuple[TradePrint, ...] = ()


@dataclass(frozen=True, slots=True)
class ForecastInput:
    """One usable forecast of the event's maximum."""

    source: str
    issued_at: datetime
    tmax_f: float
    sigma_f: float | None
    hours_to_close: float


@dataclass(frozen=True, slots=True)
class EventFeatures:
    """Everything a strategy may know about one event at ``decision_time``."""

    event_ticker: str
    city: str
    station: str
    event_date: date
    decision_time: datetime
    close_time: datetime
    std_offset_hours: int
    tickers: tuple[str, ...]
    brackets: tuple[Bracket, ...]
    market: tuple[MarketPrice, ...] | None = None
    forecasts: tuple[ForecastInput, ...] = ()
    running_max_f: float | None = None
    hours_observed: float = 0.0
    running_max_observed: bool = False  # True when from the station's own observations
    climatology: tuple[float, ...] = ()
    previous_max_f: float | None = None  # settlement maximum of the day before, once known
    previous_forecasts: tuple[ForecastInput, ...] = ()  # of the day before, issued by T

    @property
    def hours_to_close(self) -> float:
        """Hours from the decision time to the market close."""
        return (self.close_time - self.decision_time).total_seconds() / 3600.0

    @property
    def is_partition(self) -> bool:
        """Whether the brackets partition the whole-degree outcomes."""
        return is_partition(self.brackets)

    @property
    def day_start(self) -> datetime:
        """Start of the station's climate day (00:00 local standard time) in UTC."""
        return climate_day_start(self.event_date, self.std_offset_hours)

    @property
    def local_standard_hour(self) -> float:
        """Hours since the start of the climate day at the decision time."""
        return (self.decision_time - self.day_start).total_seconds() / 3600.0

    def latest_forecast(self, sources: Iterable[str] | None = None) -> ForecastInput | None:
        """The most recently issued usable forecast, optionally of the given sources."""
        allowed = None if sources is None else set(sources)
        best: ForecastInput | None = None
        for f in self.forecasts:
            if allowed is not None and f.source not in allowed:
                continue
            if best is None or (f.issued_at, f.source) > (best.issued_at, best.source):
                best = f
        return best


@dataclass(frozen=True, slots=True)
class Event:
    """One city-day of markets with its labels (labels are never features)."""

    event_ticker: str
    city: str
    station: str
    event_date: date
    close_time: datetime
    std_offset_hours: int
    tickers: tuple[str, ...]
    brackets: tuple[Bracket, ...]
    outcomes: tuple[int | None, ...]
    settled_value: float | None
    synthetic: bool = False

    @property
    def label_time(self) -> datetime:
        """When the outcome is known (close plus the label delay)."""
        return self.close_time + LABEL_DELAY

    @property
    def labelled(self) -> bool:
        """Whether every market of the event has a result."""
        return all(o is not None for o in self.outcomes)


def climate_day_start(day: date, std_offset_hours: int) -> datetime:
    """00:00 local standard time of ``day`` as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=std_offset_hours)


def _offset(station: str, default: int | None = None) -> int | None:
    s = by_icao(station)
    if s is not None:
        return s.std_offset_hours
    return default


@dataclass
class DatasetIndex:
    """Pre-sorted views of a dataset for fast as-of look-ups."""

    dataset: Dataset
    events: list[Event] = field(default_factory=list)
    truth: dict[tuple[str, date], tuple[float, str]] = field(default_factory=dict)
    _obs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    _hourly: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _hourly_observed: set[str] = field(default_factory=set)
    _forecasts: dict[tuple[str, date], list[tuple[datetime, str, float, float | None]]] = field(
        default_factory=dict
    )

    @property
    def has_quotes(self) -> bool:
        """Whether the dataset has a quotes file with rows."""
        q = self.dataset.quotes
        return q is not None and len(q) > 0

    @property
    def has_trades(self) -> bool:
        """Whether the dataset has a trades file with rows."""
        t = self.dataset.trades
        return t is not None and len(t) > 0

    def forecast_pairs(self) -> pd.DataFrame:
        """Usable-forecast/truth pairs: station, target_date, issued_at, source, tmax_f, truth.

        ``truth_source`` says whether the truth is a settlement-quality value or a proxy.
        """
        f = self.dataset.forecasts
        cols = ["station", "target_date", "issued_at", "source", "tmax_f", "truth", "truth_source"]
        if f is None or f.empty:
            return pd.DataFrame(columns=cols)
        f = f[~f["source"].isin(ARCHIVE_SOURCES) & f["tmax_f"].notna()]
        keys = list(zip(f["station"], f["target_date"], strict=True))
        truth = [self.truth.get(k) for k in keys]
        out = f.assign(
            truth=[t[0] if t else math.nan for t in truth],
            truth_source=[t[1] if t else "" for t in truth],
        )
        out = out[out["truth"].notna()]
        out = out.assign(
            prev_max=[
                self.previous_max(st, d, ia.to_pydatetime())
                for st, d, ia in zip(
                    out["station"], out["target_date"], out["issued_at"], strict=True
                )
            ]
        )
        out = out.assign(
            clim_mean=[
                self.climate_mean(st, d)
                for st, d in zip(out["station"], out["target_date"], strict=True)
            ]
        )
        out = out.assign(
            prev_fc=[
                self.previous_forecast(st, d, src, ia.to_pydatetime() - timedelta(hours=24))
                for st, d, src, ia in zip(
                    out["station"], out["target_date"], out["source"], out["issued_at"], strict=True
                )
            ]
        )
        return out[[*cols, "clim_mean", "prev_max", "prev_fc"]].reset_index(drop=True)

    def previous_forecast(self, station: str, day: date, source: str, issued_by: datetime) -> float:
        """Latest ``source`` forecast for the day before ``day`` issued by ``issued_by`` (NaN)."""
        best = math.nan
        for ia, src, tx, _ in self._forecasts.get((station, day - timedelta(days=1)), []):
            if src == source and ia <= issued_by:
                best = tx  # rows are sorted by issue time
        return best

    def previous_max(self, station: str, day: date, known_by: datetime) -> float:
        """Settlement maximum of the day before ``day`` if published by ``known_by`` (else NaN).

        A daily value is known ``OBS_DELAY`` after its climate day ends (00:00 LST of ``day``).
        """
        offset = _offset(station)
        if offset is None or climate_day_start(day, offset) + OBS_DELAY > known_by:
            return math.nan
        tv = self.truth.get((station, day - timedelta(days=1)))
        if tv is None or tv[1] not in SETTLEMENT_OBS_SOURCES:
            return math.nan
        return tv[0]

    def climate_mean(self, station: str, day: date) -> float:
        """Mean observed maximum of earlier years within the climatology window (NaN if none)."""
        arr = self._obs.get(station)
        if arr is None:
            return math.nan
        dates, doy, tmax = arr
        target = day.timetuple().tm_yday
        dist = np.abs(doy - target)
        dist = np.minimum(dist, 366 - dist)
        sel = (dates < date(day.year, 1, 1).toordinal()) & (dist <= CLIMATOLOGY_WINDOW_DAYS)
        return float(tmax[sel].mean()) if sel.sum() >= 30 else math.nan


def build_index(dataset: Dataset, *, synthetic_events: bool | None = None) -> DatasetIndex:
    """Index a dataset: its events, settlement truths and as-of look-up tables.

    Without a markets file (or with ``synthetic_events=True``) one synthetic Kalshi-style
    event is built per station-day that has both a non-archive forecast and a settlement
    observation: six brackets (two tails and four 2 degF bins) centred on the earliest
    forecast of the day, labelled by the observation.
    """
    index = DatasetIndex(dataset)
    _index_truth(index)
    _index_obs(index)
    _index_hourly(index)
    _index_forecasts(index)
    if dataset.markets is not None and not dataset.markets.empty:
        index.events = _market_events(dataset.markets, index)
    if synthetic_events or (synthetic_events is None and not index.events):
        index.events = _synthetic_events(index)
    index.events.sort(key=lambda e: (e.close_time, e.event_ticker))
    return index


def _index_truth(index: DatasetIndex) -> None:
    ds = index.dataset
    truth: dict[tuple[str, date], tuple[float, str]] = {}
    obs = ds.observations
    if obs is not None and not obs.empty:
        ranked = list(PROXY_OBS_SOURCES) + list(reversed(SETTLEMENT_OBS_SOURCES))
        for src in ranked:  # later sources overwrite earlier ones: best source wins
            sub = obs[(obs["source"] == src) & obs["tmax_f"].notna()]
            for st, d, v in zip(sub["station"], sub["date"], sub["tmax_f"], strict=True):
                truth[(st, d)] = (float(v), src)
    m = ds.markets
    if m is not None and not m.empty:
        sub = m[m["expiration_value"].notna()]
        for st, d, v in zip(
            sub["station"], sub["event_date"], sub["expiration_value"], strict=True
        ):
            cur = truth.get((st, d))
            if cur is None or cur[1] not in SETTLEMENT_OBS_SOURCES:
                truth[(st, d)] = (float(v), "kalshi")
    index.truth = truth


def _index_obs(index: DatasetIndex) -> None:
    obs = index.dataset.observations
    if obs is None or obs.empty:
        return
    sub = obs[obs["source"].isin(SETTLEMENT_OBS_SOURCES) & obs["tmax_f"].notna()]
    for st, g in sub.groupby("station", sort=True):
        g = g.sort_values("date")
        dates = np.array([d.toordinal() for d in g["date"]], dtype=np.int64)
        doy = np.array([d.timetuple().tm_yday for d in g["date"]], dtype=np.int64)
        index._obs[str(st)] = (dates, doy, g["tmax_f"].to_numpy(dtype=float))


def _index_hourly(index: DatasetIndex) -> None:
    h = index.dataset.hourly
    if h is None or h.empty:
        return
    sub = h[h["temp_f"].notna()]
    for st, g in sub.groupby("station", sort=True):
        observed = g[g["source"].isin(OBSERVED_HOURLY_SOURCES)]
        if not observed.empty:
            g = observed
            index._hourly_observed.add(str(st))
        g = g.sort_values("ts", kind="stable")
        ts = g["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        index._hourly[str(st)] = (ts, g["temp_f"].to_numpy(dtype=float))


def _index_forecasts(index: DatasetIndex) -> None:
    f = index.dataset.forecasts
    if f is None or f.empty:
        return
    sub = f[f["tmax_f"].notna()]
    table: dict[tuple[str, date], list[tuple[datetime, str, float, float | None]]] = {}
    for st, d, ia, src, tx, sg in zip(
        sub["station"],
        sub["target_date"],
        sub["issued_at"],
        sub["source"],
        sub["tmax_f"],
        sub["sigma_f"],
        strict=True,
    ):
        sigma = None if pd.isna(sg) else float(sg)
        table.setdefault((str(st), d), []).append((ia.to_pydatetime(), str(src), float(tx), sigma))
    for rows in table.values():
        rows.sort()
    index._forecasts = table


def _market_events(markets: pd.DataFrame, index: DatasetIndex) -> list[Event]:
    events: list[Event] = []
    m = markets[markets["event_ticker"].notna() & markets["close_time"].notna()]
    for ev, g in m.groupby("event_ticker", sort=True):
        g = g.sort_values("ticker")
        station = str(g["station"].iloc[0])
        offset = _offset(station)
        if offset is None:
            continue
        try:
            brackets = tuple(
                Bracket.from_strikes(
                    str(st), None if pd.isna(fl) else fl, None if pd.isna(cp) else cp
                )
                for st, fl, cp in zip(
                    g["strike_type"], g["floor_strike"], g["cap_strike"], strict=True
                )
            )
        except DataError:
            continue
        outcomes = tuple(None if pd.isna(r) else (1 if r == "yes" else 0) for r in g["result"])
        day = g["event_date"].iloc[0]
        tv = index.truth.get((station, day))
        events.append(
            Event(
                event_ticker=str(ev),
                city=str(g["city"].iloc[0]),
                station=station,
                event_date=day,
                close_time=g["close_time"].max().to_pydatetime(),
                std_offset_hours=offset,
                tickers=tuple(str(t) for t in g["ticker"]),
                brackets=brackets,
                outcomes=outcomes,
                settled_value=None
                if tv is None or tv[1] not in ("cli", "ghcnd", "kalshi")
                else tv[0],
            )
        )
    return events


def synthetic_brackets(center: int) -> tuple[Bracket, ...]:
    """Six Kalshi-style brackets around ``center``: tails and four 2 degF bins."""
    lo = center - 3
    out = [Bracket.from_strikes("less", None, lo)]
    for k in range(4):
        out.append(Bracket.from_strikes("between", lo + 2 * k, lo + 2 * k + 1))
    out.append(Bracket.from_strikes("greater", lo + 7, None))
    return tuple(out)


def _synthetic_events(index: DatasetIndex) -> list[Event]:
    events: list[Event] = []
    for (station, day), rows in sorted(index._forecasts.items()):
        offset = _offset(station)
        tv = index.truth.get((station, day))
        if offset is None or tv is None or tv[1] not in SETTLEMENT_OBS_SOURCES:
            continue
        usable = [r for r in rows if r[1] not in ARCHIVE_SOURCES]
        if not usable:
            continue
        center = math.floor(usable[0][2] + 0.5)
        brackets = synthetic_brackets(center)
        value = int(tv[0])
        close = climate_day_start(day, offset) + timedelta(hours=24) - timedelta(minutes=1)
        city = by_icao(station)
        ticker = f"SYN-{station}-{day.isoformat()}"
        events.append(
            Event(
                event_ticker=ticker,
                city=city.city if city else station,
                station=station,
                event_date=day,
                close_time=close,
                std_offset_hours=offset,
                tickers=tuple(f"{ticker}-{i}" for i in range(len(brackets))),
                brackets=brackets,
                outcomes=tuple(1 if b.contains(value) else 0 for b in brackets),
                settled_value=float(value),
                synthetic=True,
            )
        )
    return events


def market_prices(
    index: DatasetIndex, tickers: Sequence[str], decision_times: Sequence[datetime]
) -> dict[str, MarketPrice]:
    """As-of market price of each ticker at its decision time: the last quote, else the
    prints (:func:`price_from_prints`)."""
    out: dict[str, MarketPrice] = {}
    if not tickers:
        return out
    ds = index.dataset
    if index.has_quotes:
        assert ds.quotes is not None
        left = pd.DataFrame(
            {"ticker": list(tickers), "T": pd.to_datetime(list(decision_times), utc=True)}
        ).sort_values("T", kind="stable")
        left["T"] = left["T"].astype("datetime64[us, UTC]")
        q = ds.quotes.sort_values("ts", kind="stable").copy()
        q["ts"] = q["ts"].astype("datetime64[us, UTC]")
        j = pd.merge_asof(left, q, left_on="T", right_on="ts", by="ticker", direction="backward")
        for t, T, ts, bid, ask in zip(
            j["ticker"], j["T"], j["ts"], j["yes_bid"], j["yes_ask"], strict=True
        ):
            if pd.isna(ts) or T - ts > MAX_PRICE_AGE:
                out[t] = MarketPrice(None, False, None, None)
                continue
            age = (T - ts).total_seconds() / 3600.0
            has_bid, has_ask = not pd.isna(bid), not pd.isna(ask)
            if has_bid and has_ask:
                p = (float(bid) + float(ask)) / 200.0
            elif has_ask:
                p = float(ask) / 200.0
            elif has_bid:
                p = (100.0 + float(bid)) / 200.0
            else:
                out[t] = MarketPrice(None, False, None, age)
                continue
            out[t] = MarketPrice(p, has_bid and has_ask, "quote", age)
        return out
    if index.has_trades:
        assert ds.trades is not None
        tape = _PrintTape(ds.trades, set(tickers))
        for t, T in zip(tickers, decision_times, strict=True):
            out[t] = tape.price(t, int(pd.Timestamp(T).as_unit("ns").value))
    return out


class _PrintTape:
    """Each market's prints sorted by time, for as-of windows of recent prints."""

    def __init__(self, trades: pd.DataFrame, tickers: set[str]) -> None:
        tr = trades[trades["ticker"].isin(tickers)]
        ts = tr["created_time"].astype("datetime64[ns, UTC]").astype(np.int64).to_numpy()
        order = np.lexsort((ts, tr["ticker"].to_numpy(dtype=str)))
        tr = tr.iloc[order]
        self.ts = ts[order]
        self.cents = tr["yes_price"].to_numpy(dtype=float)
        # A reduced table may lack the size and side: unknown then.
        n = len(tr)
        self.count = tr["count"].to_numpy(dtype=float) if "count" in tr else np.ones(n)
        side = tr["taker_side"] if "taker_side" in tr else pd.Series([None] * n, dtype=object)
        self.taker_yes = (side == "yes").to_numpy(dtype=bool)
        self.taker_known = side.isin(("yes", "no")).to_numpy(dtype=bool)
        names = tr["ticker"].to_numpy(dtype=str)
        self.spans: dict[str, tuple[int, int]] = {}
        if len(names):
            starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
            ends = np.r_[starts[1:], len(names)]
            for a, b in zip(starts, ends, strict=True):
                self.spans[str(names[a])] = (int(a), int(b))

    def price(self, ticker: str, t_ns: int) -> MarketPrice:
        """The market price of ``ticker`` at ``t_ns`` (:func:`price_from_prints`)."""
        lo, hi = self.spans.get(ticker, (0, 0))
        return price_from_prints(
            self.ts[lo:hi],
            self.cents[lo:hi],
            self.count[lo:hi],
            self.taker_yes[lo:hi],
            self.taker_known[lo:hi],
            t_ns,
        )


_WINDOW_NS = int(PRINT_WINDOW.total_seconds() * 1e9)
_MAX_AGE_NS = int(MAX_PRICE_AGE.total_seconds() * 1e9)


def price_from_prints(
    ts: np.ndarray,
    cents: np.ndarray,
    count: np.ndarray,
    taker_yes: np.ndarray,
    taker_known: np.ndarray,
    t_ns: int,
) -> MarketPrice:
    """A market's price at ``t_ns`` from its prints (ns times, sorted; YES cents).

    The last print with ``ts <= t_ns`` gives the price (fresh when at most ``MAX_PRICE_AGE``
    old), and the prints in the ``PRINT_WINDOW`` before it (at most ``MAX_PRINTS``) travel
    with it. The evaluator and the backtest both price trades through this function.
    """
    end = int(np.searchsorted(ts, t_ns, side="right"))
    if end == 0:
        return MarketPrice(None, False, None, None)
    last = int(ts[end - 1])
    start = max(int(np.searchsorted(ts[:end], last - _WINDOW_NS, side="left")), end - MAX_PRINTS)
    sizes = count[start:end]
    sizes = np.where(np.isfinite(sizes) & (sizes > 0), sizes, 1.0)
    prints = tuple(
        TradePrint(a, p, c, y if k else None)
        for a, p, c, y, k in zip(
            ((t_ns - ts[start:end]) / 3.6e12).tolist(),
            (cents[start:end] / 100.0).tolist(),
            sizes.tolist(),
            taker_yes[start:end].tolist(),
            taker_known[start:end].tolist(),
            strict=True,
        )
    )
    fresh = t_ns - last <= _MAX_AGE_NS
    return MarketPrice(
        float(cents[end - 1]) / 100.0,
        fresh,
        "trade" if fresh else "stale",
        (t_ns - last) / 3.6e12,
        prints,
    )


def event_features(
    index: DatasetIndex,
    event: Event,
    decision_time: datetime,
    prices: dict[str, MarketPrice] | None = None,
) -> EventFeatures:
    """Build the features of ``event`` as of ``decision_time`` (no look-ahead)."""
    if prices is None:
        prices = market_prices(index, event.tickers, [decision_time] * len(event.tickers))
    market: tuple[MarketPrice, ...] | None = None
    if index.has_quotes or index.has_trades:
        market = tuple(prices.get(t, MarketPrice(None, False, None, None)) for t in event.tickers)
    forecasts = tuple(
        ForecastInput(
            source=src,
            issued_at=ia,
            tmax_f=tx,
            sigma_f=sg,
            hours_to_close=(event.close_time - ia).total_seconds() / 3600.0,
        )
        for ia, src, tx, sg in index._forecasts.get((event.station, event.event_date), [])
        if ia <= decision_time
    )
    running, hours = _running_max(index, event, decision_time)
    return EventFeatures(
        event_ticker=event.event_ticker,
        city=event.city,
        station=event.station,
        event_date=event.event_date,
        decision_time=decision_time,
        close_time=event.close_time,
        std_offset_hours=event.std_offset_hours,
        tickers=event.tickers,
        brackets=event.brackets,
        market=market,
        forecasts=forecasts,
        running_max_f=running,
        hours_observed=hours,
        running_max_observed=event.station in index._hourly_observed,
        climatology=_climatology(index, event, decision_time),
        previous_max_f=_finite_or_none(
            index.previous_max(event.station, event.event_date, decision_time)
        ),
        previous_forecasts=tuple(
            ForecastInput(
                source=src,
                issued_at=ia,
                tmax_f=tx,
                sigma_f=sg,
                hours_to_close=(event.close_time - ia).total_seconds() / 3600.0 - 24.0,
            )
            for ia, src, tx, sg in index._forecasts.get(
                (event.station, event.event_date - timedelta(days=1)), []
            )
            if ia <= decision_time
        ),
    )


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def _running_max(index: DatasetIndex, event: Event, t: datetime) -> tuple[float | None, float]:
    arr = index._hourly.get(event.station)
    if arr is None:
        return None, 0.0
    ts, temps = arr
    start = climate_day_start(event.event_date, event.std_offset_hours)
    known_until = min(t - HOURLY_DELAY, start + timedelta(hours=24) - timedelta(seconds=1))
    lo = np.searchsorted(ts, _ns(start), side="left")
    hi = np.searchsorted(ts, _ns(known_until), side="right")
    if hi <= lo:
        return None, 0.0
    return float(np.max(temps[lo:hi])), float(hi - lo)


def _ns(t: datetime) -> int:
    return int(pd.Timestamp(t).as_unit("ns").value)


def _climatology(index: DatasetIndex, event: Event, t: datetime) -> tuple[float, ...]:
    arr = index._obs.get(event.station)
    if arr is None:
        return ()
    dates, doy, tmax = arr
    day = event.event_date
    # Earlier years only, and only days already observed at t.
    first_of_year = date(day.year, 1, 1).toordinal()
    known = dates < first_of_year
    latest_known = (t - OBS_DELAY - timedelta(hours=24)).date().toordinal()
    known &= dates <= latest_known
    target = day.timetuple().tm_yday
    dist = np.abs(doy - target)
    dist = np.minimum(dist, 366 - dist)
    sel = known & (dist <= CLIMATOLOGY_WINDOW_DAYS)
    return tuple(float(v) for v in tmax[sel])
