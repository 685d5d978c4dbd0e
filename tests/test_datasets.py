"""Reading datasets in the documented layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from milkbot import bundled
from milkbot.datasets import load_dataset
from milkbot.errors import DatasetError

MARKETS_HEADER = (
    "ticker,event_ticker,series_ticker,city,station,event_date,strike_type,"
    "floor_strike,cap_strike,open_time,close_time,result,expiration_value\n"
)


def test_bundled_demo_data_loads_with_types() -> None:
    ds = load_dataset([bundled.path("kalshi-tape-demo"), bundled.path("openmeteo-hourly-demo")])
    assert ds.markets is not None and ds.trades is not None and ds.hourly is not None
    assert ds.quotes is None and ds.forecasts is None
    assert str(ds.trades["created_time"].dt.tz) == "UTC"
    assert ds.trades["yes_price"].between(1, 99).all()
    assert ds.markets["city"].nunique() == 5


def test_empty_field_is_missing_not_zero(tmp_path: Path) -> None:
    (tmp_path / "markets.csv").write_text(
        MARKETS_HEADER + "T-1,E,KXHIGHNY,NYC,KNYC,2025-01-10,less,,47,,2025-01-11T04:59:00Z,,\n"
    )
    m = load_dataset([tmp_path]).markets
    assert m is not None
    assert m["floor_strike"].isna().all() and m["cap_strike"].iloc[0] == 47
    assert m["open_time"].isna().all() and m["result"].isna().all()


def test_merging_directories_keeps_one_row_per_key(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    row = "T-1,E,KXHIGHNY,NYC,KNYC,2025-01-10,less,,47,,2025-01-11T04:59:00Z,{},\n"
    (a / "markets.csv").write_text(MARKETS_HEADER + row.format(""))
    (b / "markets.csv").write_text(MARKETS_HEADER + row.format("yes"))
    m = load_dataset([a, b]).markets
    assert m is not None and len(m) == 1 and m["result"].iloc[0] == "yes"


def test_merging_keeps_distinct_markets_without_tickers(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    rows = [
        ",E,KXHIGHNY,NYC,KNYC,2021-08-10,greater,81,,,,yes,\n",
        ",E,KXHIGHNY,NYC,KNYC,2021-08-10,greater,84,,,,no,\n",
    ]
    (a / "markets.csv").write_text(MARKETS_HEADER + rows[0])
    (b / "markets.csv").write_text(MARKETS_HEADER + "".join(rows))
    m = load_dataset([a, b]).markets
    assert m is not None and sorted(m["floor_strike"]) == [81, 84]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ticker,ts\nX,2025\n", "missing columns"),
        ("ticker,ts,yes_bid,yes_ask\nX,yesterday,1,2\n", "bad timestamp"),
        ("ticker,ts,yes_bid,yes_ask\nX,2025-01-01T00:00:00Z,lots,2\n", "non-numeric"),
    ],
)
def test_malformed_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "quotes.csv").write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset([tmp_path])


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset([tmp_path / "nope"])
    with pytest.raises(DatasetError, match="holds none"):
        load_dataset([tmp_path])


def test_real_tape_loads(shared_data: Path) -> None:
    ds = load_dataset([shared_data / "kalshi-tape-2023-2025"])
    assert ds.trades is not None and len(ds.trades) == 1_482_059
