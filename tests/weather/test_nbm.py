"""NBM guidance (TXN/XND) from the real NBS, NBX and IEM-style CSV samples."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbot.errors import ParseError
from milkbot.weather.nbm import parse_nbm_csv, parse_nbm_text

NBM = Path(__file__).resolve().parents[1] / "fixtures" / "nws" / "nbm_dsm"
NBS = (NBM / "NBS_v5.0_KDSM_2026-04-07_15z.txt").read_text()


def test_nbs_text_maxima_and_spread() -> None:
    (kdsm,) = parse_nbm_text(NBS)
    assert kdsm.station == "KDSM"
    assert kdsm.run_at == datetime(2026, 4, 7, 15, tzinfo=UTC)
    maxima = [(v.target_date, v.value_f, v.sd_f) for v in kdsm.values if v.is_max]
    minima = [(v.target_date, v.value_f, v.sd_f) for v in kdsm.values if not v.is_max]
    assert maxima == [(date(2026, 4, 8), 59, 3.0), (date(2026, 4, 9), 62, 3.0)]
    assert minima == [
        (date(2026, 4, 8), 50, 3.0),
        (date(2026, 4, 9), 47, 2.0),
        (date(2026, 4, 10), 44, 2.0),
    ]
    available = datetime(2026, 4, 7, 16, 5, tzinfo=UTC)
    forecasts = kdsm.daily_max_forecasts(available)
    assert [(f.target_date, f.tmax_f, f.sigma_f, f.kind) for f in forecasts] == [
        (date(2026, 4, 8), 59.0, 3.0, "daytime-high"),
        (date(2026, 4, 9), 62.0, 3.0, "daytime-high"),
    ]
    assert all(f.issued_at == available and f.source == "nbm-nbs" for f in forecasts)
    with pytest.raises(ParseError, match="cannot be available"):
        kdsm.daily_max_forecasts(datetime(2026, 4, 7, 14, tzinfo=UTC))


def test_nbx_text() -> None:
    blocks = parse_nbm_text((NBM / "NBX_example.txt").read_text())
    first = blocks[0]
    assert (first.station, first.product) == ("CWCD", "NBX")
    assert [(v.target_date, v.is_max, v.value_f) for v in first.values[:2]] == [
        (date(2020, 7, 30), True, 86),
        (date(2020, 7, 31), False, 60),
    ]
    assert len(blocks) == (NBM / "NBX_example.txt").read_text().count("NBX GUIDANCE")


def test_iem_csv_knyc() -> None:
    (knyc,) = parse_nbm_csv((NBM / "nbs_knyc_20250128_01z_iem_style.csv").read_text())
    assert knyc.station == "KNYC" and knyc.run_at == datetime(2025, 1, 28, 1, tzinfo=UTC)
    first_max = next(v for v in knyc.values if v.is_max)
    # shared/notes/weather.md: "txn 38 with xnd 2.0 for the first max".
    assert (first_max.target_date, first_max.value_f, first_max.sd_f) == (
        date(2025, 1, 28),
        38,
        2.0,
    )


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("TXN                 50", "TXN                 5X", "not an integer"),
        ("TXN                 50", "TXN              50   ", "expected 00"),
        ("XND                  3", "XND               3   ", "XND without TXN"),
        ("4/07/2026", "4/37/2026", "NBM header"),
        ("FHR  06", "FHX  06", "missing FHR"),
    ],
)
def test_malformed_nbs(old: str, new: str, match: str) -> None:
    assert old in NBS
    with pytest.raises(ParseError, match=match):
        parse_nbm_text(NBS.replace(old, new, 1))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text())
def test_fuzzed_text_never_gives_a_value(text: str) -> None:
    with pytest.raises(ParseError):
        parse_nbm_text(text)
    with pytest.raises(ParseError):
        parse_nbm_csv(text)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.integers(0, len(NBS) - 1), st.integers(0, 4), st.text(max_size=4))
def test_mutated_nbs_only_raises_parse_error(pos: int, delete: int, insert: str) -> None:
    mutated = NBS[:pos] + insert + NBS[pos + delete :]
    try:
        (block,) = parse_nbm_text(mutated)
    except ParseError:
        return
    assert all(-90 <= v.value_f <= 140 for v in block.values)
