"""Read datasets in the documented layout (``shared/data/README.md``).

A dataset is a directory of optional canonical files: ``markets``, ``trades``, ``quotes``,
``forecasts``, ``observations`` (each ``<name>.csv`` or ``<name>.csv.gz``), plus extra files
such as ``hourly``. Several directories are merged file by file. Empty fields mean unknown
and stay missing; timestamps become aware UTC; prices stay integer cents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from milkbot.errors import DatasetError

CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "markets": (
        "ticker",
        "event_ticker",
        "series_ticker",
        "city",
        "station",
        "event_date",
        "strike_type",
        "floor_strike",
        "cap_strike",
        "open_time",
        "close_time",
        "result",
        "expiration_value",
    ),
    "trades": ("ticker", "created_time", "yes_price", "count", "taker_side"),
    "quotes": ("ticker", "ts", "yes_bid", "yes_ask"),
    "forecasts": (
        "station",
        "target_date",
        "issued_at",
        "source",
        "lead_hours",
        "tmax_f",
        "sigma_f",
    ),
    "observations": ("station", "date", "tmax_f", "tmin_f", "source"),
    "hourly": ("station", "ts", "temp_f", "source"),
}
_TIMESTAMPS = {
    "markets": ("open_time", "close_time"),
    "trades": ("created_time",),
    "quotes": ("ts",),
    "forecasts": ("issued_at",),
    "hourly": ("ts",),
}
_DATES = {"markets": ("event_date",), "forecasts": ("target_date",), "observations": ("date",)}
_NUMBERS = {
    "markets": ("floor_strike", "cap_strike", "expiration_value"),
    "trades": ("yes_price", "count"),
    "quotes": ("yes_bid", "yes_ask"),
    "forecasts": ("lead_hours", "tmax_f", "sigma_f"),
    "observations": ("tmax_f", "tmin_f"),
    "hourly": ("temp_f",),
}
_KEYS = {
    # A ticker may be empty where a source has none: the bracket identifies the market then.
    "markets": (
        "ticker",
        "event_ticker",
        "city",
        "event_date",
        "strike_type",
        "floor_strike",
        "cap_strike",
    ),
    "trades": None,
    "quotes": ("ticker", "ts"),
    "forecasts": ("station", "target_date", "issued_at", "source"),
    "observations": ("station", "date", "source"),
    "hourly": ("station", "ts", "source"),
}


@dataclass(frozen=True)
class Dataset:
    """The tables of one or more merged dataset directories; a missing file is None."""

    sources: tuple[Path, ...]
    markets: pd.DataFrame | None
    trades: pd.DataFrame | None
    quotes: pd.DataFrame | None
    forecasts: pd.DataFrame | None
    observations: pd.DataFrame | None
    hourly: pd.DataFrame | None


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.csv", directory / f"{name}.csv.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_table(path: Path, name: str) -> pd.DataFrame:
    """Read one canonical file, check its columns and convert its types."""
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read as CSV: {e}") from e
    missing = [c for c in CANONICAL_COLUMNS[name] if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing columns {', '.join(missing)}")
    for col in _TIMESTAMPS.get(name, ()):
        converted = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            raise DatasetError(f"{path}: bad timestamp {frame[col][bad].iloc[0]!r} in {col}")
        frame[col] = converted
    for col in _DATES.get(name, ()):
        converted = pd.to_datetime(frame[col], errors="coerce", format="%Y-%m-%d")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            raise DatasetError(f"{path}: bad date {frame[col][bad].iloc[0]!r} in {col}")
        frame[col] = converted.dt.date
    for col in _NUMBERS.get(name, ()):
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            raise DatasetError(f"{path}: non-numeric {frame[col][bad].iloc[0]!r} in {col}")
        frame[col] = converted
    return frame


def load_dataset(directories: Sequence[Path | str]) -> Dataset:
    """Load and merge dataset directories file by file.

    Rows repeated across directories (same key) are kept once, the later directory winning.
    Raises :class:`DatasetError` when a directory is missing or holds no canonical file.
    """
    if not directories:
        raise DatasetError("no dataset directory given")
    paths = tuple(Path(d) for d in directories)
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in CANONICAL_COLUMNS}
    for directory in paths:
        if not directory.is_dir():
            raise DatasetError(f"{directory}: not a directory")
        found = False
        for name in CANONICAL_COLUMNS:
            file = _find(directory, name)
            if file is not None:
                tables[name].append(read_table(file, name))
                found = True
        if not found:
            names = ", ".join(CANONICAL_COLUMNS)
            raise DatasetError(f"{directory}: holds none of the dataset files ({names})")
    merged: dict[str, pd.DataFrame | None] = {}
    for name, frames in tables.items():
        if not frames:
            merged[name] = None
            continue
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        keys = _KEYS[name]
        if len(frames) > 1:
            frame = frame.drop_duplicates(subset=list(keys) if keys else None, keep="last")
        merged[name] = frame.reset_index(drop=True)
    return Dataset(sources=paths, **merged)
