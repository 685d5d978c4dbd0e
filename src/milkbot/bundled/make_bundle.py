"""Rebuild the demo's bundled real-data subsets from ``../shared/data``.

Run from anywhere: ``python src/milkbot/bundled/make_bundle.py [SHARED_DATA_DIR]``. The
output is deterministic (fixed days, sorted rows, gzip without a timestamp). Only the two
MIT-licensed datasets are used, and their ``LICENSE`` files are copied verbatim.
"""

from __future__ import annotations

import gzip
import io
import shutil
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2].parent / "shared" / "data"
TAPE = "kalshi-tape-2023-2025"
HOURLY = "openmeteo-hourly-2025"
TAPE_OUT = "kalshi-tape-demo"
HOURLY_OUT = "openmeteo-hourly-demo"
# Three consecutive climate days with results for all five tape cities; among the quietest
# three-day windows of Jan-May 2025 so the bundle stays small.
DAYS = ("2025-04-06", "2025-04-07", "2025-04-08")
CITIES = ("NYC", "CHI", "MIA", "AUS", "DEN")
GZIP_OVER_BYTES = 1_000_000


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def _write_csv(frame: pd.DataFrame, directory: Path, name: str) -> Path:
    text = frame.to_csv(index=False, lineterminator="\n").encode()
    for stale in (directory / f"{name}.csv", directory / f"{name}.csv.gz"):
        stale.unlink(missing_ok=True)
    if len(text) <= GZIP_OVER_BYTES:
        out = directory / f"{name}.csv"
        out.write_bytes(text)
        return out
    out = directory / f"{name}.csv.gz"
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text)
    out.write_bytes(buf.getvalue())
    return out


def build_tape(source: Path, out: Path) -> tuple[int, int]:
    """Write the tape subset; return (markets, trades) row counts."""
    markets = _read(source / TAPE / "markets.csv.gz")
    markets = markets[markets["event_date"].isin(DAYS) & markets["city"].isin(CITIES)]
    markets = markets.sort_values(["event_date", "city", "ticker"]).reset_index(drop=True)
    if set(markets["city"]) != set(CITIES) or (markets["result"] == "").any():
        raise SystemExit("chosen days lack a city or a result; pick other DAYS")
    trades = _read(source / TAPE / "trades.csv.gz")
    trades = trades[trades["ticker"].isin(set(markets["ticker"]))]
    trades = trades.sort_values(["created_time", "ticker"], kind="stable").reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(markets, out, "markets")
    _write_csv(trades, out, "trades")
    shutil.copyfile(source / TAPE / "LICENSE", out / "LICENSE")
    return len(markets), len(trades)


def build_hourly(source: Path, out: Path) -> int:
    """Write the hourly subset (UTC hours covering the climate days); return the row count."""
    hourly = _read(source / HOURLY / "hourly.csv.gz")
    first = pd.Timestamp(DAYS[0], tz="UTC")
    last = pd.Timestamp(DAYS[-1], tz="UTC") + pd.Timedelta(days=1, hours=8)
    ts = pd.to_datetime(hourly["ts"], utc=True, format="ISO8601")
    hourly = hourly[(ts >= first) & (ts < last)]
    hourly = hourly.sort_values(["station", "ts"]).reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(hourly, out, "hourly")
    shutil.copyfile(source / HOURLY / "LICENSE", out / "LICENSE")
    return len(hourly)


def main(argv: list[str]) -> None:
    """Rebuild both bundles from the shared data directory (first argument, optional)."""
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    n_markets, n_trades = build_tape(source, HERE / TAPE_OUT)
    n_hourly = build_hourly(source, HERE / HOURLY_OUT)
    print(f"{TAPE_OUT}: {n_markets} markets, {n_trades} trades; {HOURLY_OUT}: {n_hourly} rows")  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1:])
