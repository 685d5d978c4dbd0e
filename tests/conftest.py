"""Shared test fixtures: where the real reference data lives, and factories used everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from milkbot.domain.brackets import Bracket

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def read_canonical(directory: Path, name: str) -> pd.DataFrame:
    """One canonical file of a dataset (``name.csv`` or ``name.csv.gz``), every field a string."""
    for p in (directory / f"{name}.csv", directory / f"{name}.csv.gz"):
        if p.is_file():
            return pd.read_csv(p, dtype=str, keep_default_na=False)
    raise FileNotFoundError(directory / name)


def write_canonical(frame: pd.DataFrame, directory: Path, name: str) -> None:
    """Write one canonical file of a dataset."""
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / f"{name}.csv", index=False)


def _require(path: Path) -> Path:
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; CI must have ../shared beside the clone")
        pytest.skip(f"{path} not found (../shared is only on development machines)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real datasets in the documented layout."""
    return _require(SHARED / "data")


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """``../shared/reference``: Kalshi and NWS specs and real captured payloads."""
    return _require(SHARED / "reference")


PG_ADMIN_URL = os.environ.get(
    "MILKBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url():  # type: ignore[no-untyped-def]
    """A fresh, empty PostgreSQL database for one test; dropped afterwards.

    Skips off CI with a clear message when no server answers; in CI a missing server fails.
    """
    import uuid

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as e:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL must be reachable in CI at {PG_ADMIN_URL}: {e}")
        pytest.skip(f"no PostgreSQL server at {PG_ADMIN_URL} (start it to run this test)")
    name = f"milkbot_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def sqlite_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings for a fresh SQLite database under a temporary data directory."""
    from milkbot.settings import Settings

    return Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]


# The six brackets of KXHIGHNY-25FEB10 in the tape (ticker suffix, strike type, floor, cap).
FEB10_EVENT = "KXHIGHNY-25FEB10"
FEB10_CLOSE = "2025-02-11T04:59:00Z"
FEB10_BRACKETS = (
    ("T30", "less", "", "30"),
    ("B30.5", "between", "30", "31"),
    ("B32.5", "between", "32", "33"),
    ("B34.5", "between", "34", "35"),
    ("B36.5", "between", "36", "37"),
    ("T37", "greater", "37", ""),
)


def feb10_market_rows(close: str = FEB10_CLOSE) -> list[dict[str, object]]:
    """``markets.csv`` rows of KXHIGHNY-25FEB10 (settled 35 degF: B34.5 won)."""
    return [
        {
            "ticker": f"{FEB10_EVENT}-{s}",
            "event_ticker": FEB10_EVENT,
            "series_ticker": "KXHIGHNY",
            "city": "NYC",
            "station": "KNYC",
            "event_date": "2025-02-10",
            "strike_type": st,
            "floor_strike": fl,
            "cap_strike": cp,
            "open_time": "",
            "close_time": close,
            "result": "yes" if s == "B34.5" else "no",
            "expiration_value": "35",
        }
        for s, st, fl, cp in FEB10_BRACKETS
    ]


def six_brackets() -> tuple[Bracket, ...]:
    """A six-bracket partition: <=46, 47-48, 49-50, 51-52, 53-54, >=55."""
    return (
        Bracket.from_strikes("less", None, 47),
        Bracket.from_strikes("between", 47, 48),
        Bracket.from_strikes("between", 49, 50),
        Bracket.from_strikes("between", 51, 52),
        Bracket.from_strikes("between", 53, 54),
        Bracket.from_strikes("greater", 54, None),
    )
