"""Strategy 1: the NWS point forecast, calibrated per station, season and lead time.

Error model in :mod:`milkbot.strategies.errors_model` (bias, Student-t spread, night-time
maximum risk), fitted on forecast/observation pairs. Keys fall back from
(station, season, lead bucket) to (station, any season, lead bucket), to (station), to all
stations, to a prior. A station's fit is partially pooled: its parameters' priors are centred
on the all-station fit for the same lead bucket.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from milkbot.domain.stations import by_icao
from milkbot.features.event import (
    ARCHIVE_SOURCES,
    OBS_DELAY,
    SETTLEMENT_OBS_SOURCES,
    EventFeatures,
    ForecastInput,
    climate_day_start,
)
from milkbot.strategies.base import History, StrategyOutput, output_from_distribution, season_of
from milkbot.strategies.climatology import MonthlyClimate
from milkbot.strategies.errors_model import MIN_PAIRS, ErrorModel, default_model, fit_error_model

LEAD_BUCKET_HOURS = 12.0
# Recent-bias adaptation: exponentially weighted residuals (half-life in days), shrunk
# towards the fitted bias with a prior weight of SHRINK pairs.
RECENT_HALF_LIFE_DAYS = 21.0
RECENT_WINDOW_DAYS = 90
SHRINK = 8.0
# Rolling fits (pairs known at ``as_of``) weight each pair by 0.5 ** (age / half-life), like
# the sliding training window of EMOS (Gneiting et al. 2005): forecast bias and spread are
# seasonal, and with one recent window the season keys are superseded. 40 days was chosen on
# the other SCS cities (daytime-high truth), never on the scored stations.
RECENCY_HALF_LIFE_DAYS = 40.0
# Partial pooling: a station's fit for a lead bucket has its priors centred on the
# all-station fit for that bucket (see ``fit_error_model``); chosen on the other SCS cities.
POOL_STATIONS = True
SETTLEMENT_TRUTH = (*SETTLEMENT_OBS_SOURCES, "kalshi")


def is_nws_source(source: str) -> bool:
    """Whether a forecast source is an NWS point forecast (not a model archive/ensemble)."""
    return source not in ARCHIVE_SOURCES and source.startswith("nws")


def lead_bucket(lead_hours: float) -> int:
    """Lead bucket index: hours from issue to the end of the climate day, in 12 h steps."""
    return max(0, int(lead_hours // LEAD_BUCKET_HOURS))


def lead_to_day_end(features: EventFeatures, f: ForecastInput) -> float:
    """Hours from a forecast's issue to the end of the event's climate day."""
    end = features.day_start + timedelta(hours=24)
    return (end - f.issued_at).total_seconds() / 3600.0


def issue_variance(features: EventFeatures, f: ForecastInput) -> float:
    """Sample variance of the usable issues of ``f``'s source up to ``f`` (0 with one issue).

    The successive issues for one day form a lagged ensemble: when they disagree the
    forecast is less certain (spread-skill, as in EMOS).
    """
    vals = [
        x.tmax_f for x in features.forecasts if x.source == f.source and x.issued_at <= f.issued_at
    ]
    return statistics.variance(vals) if len(vals) >= 2 else 0.0


def previous_error(features: EventFeatures, f: ForecastInput) -> float | None:
    """Error (observed - forecast) of the day before, for the issue 24 h before ``f``.

    None unless the previous day's maximum is known and that issue exists.
    """
    if features.previous_max_f is None:
        return None
    cutoff = f.issued_at - timedelta(hours=24)
    earlier = [
        x for x in features.previous_forecasts if x.source == f.source and x.issued_at <= cutoff
    ]
    if not earlier:
        return None
    latest = max(earlier, key=lambda x: x.issued_at)
    return features.previous_max_f - latest.tmax_f


def _std_offset(station: str) -> int | None:
    s = by_icao(station)
    return None if s is None else s.std_offset_hours


def prepare_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Add lead, bucket, season and residual columns to forecast/truth pairs of NWS sources."""
    if pairs is None or pairs.empty:
        return pd.DataFrame(
            columns=["station", "season", "bucket", "residual", "settlement", "known_at"]
        )
    p = pairs[pairs["source"].map(is_nws_source)].copy()
    offsets = p["station"].map(_std_offset)
    p = p[offsets.notna()]
    offsets = offsets[offsets.notna()].astype(int)
    starts = [climate_day_start(d, o) for d, o in zip(p["target_date"], offsets, strict=True)]
    ends = pd.to_datetime(starts, utc=True) + pd.Timedelta(hours=24)
    lead = (ends - pd.DatetimeIndex(p["issued_at"])).total_seconds() / 3600.0
    p["lead"] = np.asarray(lead)
    p["bucket"] = [lead_bucket(x) for x in p["lead"]]
    p["season"] = [season_of(d.month) for d in p["target_date"]]
    p["residual"] = p["truth"] - p["tmax_f"]
    if "prev_max" in p:
        p["prev_gap"] = p["prev_max"] - p["tmax_f"]
        if "prev_fc" in p:
            p["prev_error"] = p["prev_max"] - p["prev_fc"]
    p = p.sort_values(["station", "target_date", "source", "issued_at"], kind="stable")
    grouped = p.groupby(["station", "target_date", "source"], sort=False)["tmax_f"]
    p["spread_var"] = grouped.transform(lambda s: s.astype(float).expanding().var()).fillna(0.0)
    p["settlement"] = p["truth_source"].isin(SETTLEMENT_TRUTH)
    p["known_at"] = ends + OBS_DELAY
    return p.reset_index(drop=True)


def climate_mean(
    features: EventFeatures, packaged: dict[str, dict[int, MonthlyClimate]]
) -> float | None:
    """Climatological mean for the event: earlier-year sample, else packaged monthly normal."""
    if len(features.climatology) >= 30:
        return statistics.fmean(features.climatology)
    month = packaged.get(features.station, {}).get(features.event_date.month)
    if month is not None and month.last_date < features.event_date.replace(day=1):
        return month.mean
    return None


@dataclass
class NwsStrategy:
    """Calibrated NWS forecast. Fitted lazily per key from pairs, or from a parameter table."""

    name: str = "nws"
    pairs: pd.DataFrame | None = None
    table: dict[str, ErrorModel] = field(default_factory=dict)
    as_of: datetime | None = None
    recent_bias: bool = True
    climate: dict[str, dict[int, MonthlyClimate]] = field(default_factory=dict)
    recency_half_life: float | None = RECENCY_HALF_LIFE_DAYS
    _cache: dict[str, ErrorModel] = field(default_factory=dict, repr=False)

    def fit(self, history: History) -> NwsStrategy:
        """Use the pairs known at ``history.as_of``."""
        p = history.pairs
        if p is not None and history.as_of is not None and not p.empty:
            p = p[p["known_at"] <= pd.Timestamp(history.as_of)]
        return NwsStrategy(
            self.name,
            p,
            dict(self.table),
            history.as_of,
            self.recent_bias,
            self.climate,
            self.recency_half_life,
        )

    @property
    def rolling(self) -> bool:
        """Whether lazily fitted keys weight pairs by recency (a rolling fit at ``as_of``)."""
        return self.as_of is not None and self.recency_half_life is not None

    def model_for(self, station: str, season: str, bucket: int) -> ErrorModel:
        """The error model for a key, with fall-backs.

        A rolling fit skips the season key: its recency weights already make it seasonal.
        """
        chain = [
            f"{station}|{season}|{bucket}",
            f"{station}|*|{bucket}",
            f"{station}|*|*",
            f"*|*|{bucket}",
        ]
        if self.rolling and f"{station}|{season}|{bucket}" not in self.table:
            chain = chain[1:]
        for key in chain:
            if key in self.table:
                return self.table[key]
            m = self._fit_key(key)
            if m is not None:
                return m
        return default_model((bucket + 0.5) * LEAD_BUCKET_HOURS)

    def adapt_bias(self, model: ErrorModel, station: str, bucket: int) -> ErrorModel:
        """Shift the bias towards the recency-weighted residual of recent pairs.

        Not applied to a rolling fit: its recency-weighted likelihood already tracks the bias,
        and the mean residual includes the warm night-time maxima that the night terms model
        separately, so shifting the core's location by it would count them twice.
        """
        p = self.pairs
        if not self.recent_bias or p is None or p.empty or self.as_of is None or self.rolling:
            return model
        key = f"recent|{station}|{bucket}"
        if key in self._cache:
            cached = self._cache[key]
            return model if cached is None else replace(model, bias=cached.bias)
        day = self.as_of.date()
        ages = np.array([(day - d).days for d in p["target_date"]], dtype=float)
        sel = (
            (p["station"] == station).to_numpy()
            & (p["bucket"] == bucket).to_numpy()
            & p["settlement"].to_numpy()
            & (ages <= RECENT_WINDOW_DAYS)
        )
        if not sel.any():
            self._cache[key] = None  # type: ignore[assignment]
            return model
        w = np.power(0.5, ages[sel] / RECENT_HALF_LIFE_DAYS)
        r = p["residual"].to_numpy()[sel]
        if "clim_mean" in p and model.clim_weight:
            anomaly = (p["clim_mean"] - p["tmax_f"]).to_numpy()[sel]
            r = r - model.clim_weight * np.where(np.isfinite(anomaly), anomaly, 0.0)
        n_eff = float(w.sum())
        recent = float(np.sum(w * r) / n_eff)
        bias = (n_eff * recent + SHRINK * model.bias) / (n_eff + SHRINK)
        adapted = replace(model, bias=bias)
        self._cache[key] = adapted
        return adapted

    def _centre_for(self, station: str, bucket: str) -> ErrorModel | None:
        """The all-station fit a station's fit for ``bucket`` is shrunk towards (or None)."""
        if not POOL_STATIONS or station == "*" or bucket == "*":
            return None
        return self._fit_key(f"*|*|{bucket}")

    def _fit_key(self, key: str) -> ErrorModel | None:
        if key in self._cache:
            return self._cache[key]
        p = self.pairs
        if p is None or p.empty:
            return None
        st, season, bucket = key.split("|")
        sel = np.ones(len(p), dtype=bool)
        if st != "*":
            sel &= (p["station"] == st).to_numpy()
        if season != "*":
            sel &= (p["season"] == season).to_numpy()
        if bucket != "*":
            sel &= (p["bucket"] == int(bucket)).to_numpy()
        settle = sel & p["settlement"].to_numpy()
        weights = np.ones(len(p))
        if self.rolling and self.as_of is not None and self.recency_half_life is not None:
            day = self.as_of.date()
            ages = np.array([(day - d).days for d in p["target_date"]], dtype=float)
            weights = np.power(0.5, np.maximum(ages, 0.0) / self.recency_half_life)
        if weights[settle].sum() >= MIN_PAIRS:
            chosen = settle
        elif st != "*" and weights[sel].sum() >= MIN_PAIRS:
            chosen = sel  # proxy truth (NWS daytime high) only for a station without better
        else:
            self._cache[key] = None  # type: ignore[assignment]
            return None
        centre = self._centre_for(st, bucket)
        lead = float(p["lead"].to_numpy()[chosen].mean())
        anomaly = (p["clim_mean"] - p["tmax_f"]).to_numpy()[chosen] if "clim_mean" in p else None
        gap = p["prev_gap"].to_numpy(dtype=float)[chosen] if "prev_gap" in p else None
        model = fit_error_model(
            p["residual"].to_numpy()[chosen],
            lead,
            anomaly,
            gap,
            weights[chosen],
            p["spread_var"].to_numpy(dtype=float)[chosen] if "spread_var" in p else None,
            p["prev_error"].to_numpy(dtype=float)[chosen] if "prev_error" in p else None,
            centre,
        )
        self._cache[key] = model
        return model

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Latest usable NWS forecast through its error model."""
        f = features.latest_forecast(
            s for s in {x.source for x in features.forecasts} if is_nws_source(s)
        )
        if f is None:
            return None
        lead = lead_to_day_end(features, f)
        season = season_of(features.event_date.month)
        bucket = lead_bucket(lead)
        model = self.adapt_bias(
            self.model_for(features.station, season, bucket), features.station, bucket
        )
        clim = climate_mean(features, self.climate)
        spread_var = issue_variance(features, f)
        prev_error = previous_error(features, f)
        dist = model.distribution(f.tmax_f, clim, features.previous_max_f, spread_var, prev_error)
        used: dict[str, float | str] = {
            "forecast_f": f.tmax_f,
            "source": f.source,
            "issued_at": f.issued_at.isoformat(),
            "lead_hours": round(lead, 2),
            "bias": round(model.bias, 3),
            "scale": round(model.scale, 3),
            "night_weight": round(model.night_weight, 3),
            "fit_pairs": model.n,
            "issue_variance": round(spread_var, 3),
        }
        if model.persistence and prev_error is not None:
            used["previous_error_f"] = prev_error
            used["persistence"] = round(model.persistence, 3)
        if model.night_sd > 0 and features.previous_max_f is not None:
            used["previous_max_f"] = features.previous_max_f
            used["night_drop"] = round(model.drop, 3)
        return output_from_distribution(self.name, features, dist, used)

    def fitted_table(self) -> dict[str, ErrorModel]:
        """Fit every key present in the pairs (for parameter files)."""
        out: dict[str, ErrorModel] = {}
        p = self.pairs
        if p is None or p.empty:
            return out
        keys: set[str] = set()
        for st, season, b in zip(p["station"], p["season"], p["bucket"], strict=True):
            keys |= {f"{st}|{season}|{b}", f"{st}|*|{b}", f"{st}|*|*", f"*|*|{b}"}
        for key in sorted(keys):
            m = self._fit_key(key)
            if m is not None:
                out[key] = m
        return out
