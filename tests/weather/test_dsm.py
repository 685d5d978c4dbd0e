"""The DSM parser on the real KZME bulletin, plus fuzzing."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbot.errors import ParseError
from milkbot.weather.dsm import parse_dsm

TEXT = (
    Path(__file__).resolve().parents[1] / "fixtures" / "nws" / "nbm_dsm" / "DSM_KZME_example.txt"
).read_text()
# Header "CDUS27 KZME 270616": issued on the 27th; the bulletin carries no year, we supply one.
ISSUED = date(2014, 11, 27)


def test_real_bulletin() -> None:
    records = parse_dsm(TEXT, issued_on=ISSUED)
    assert len(records) == 23
    first = records[0]
    assert (first.station, first.climate_date, first.max_f, first.max_time_lst) == (
        "KHKS",
        date(2014, 11, 26),
        66,
        time(11, 52),
    )
    assert (first.min_f, first.min_time_lst, first.as_of_lst) == (47, time(3, 16), None)
    kmem = next(r for r in records if r.station == "KMEM")
    assert (kmem.max_f, kmem.max_time_lst, kmem.min_f, kmem.min_time_lst) == (
        56,
        time(16, 41),
        43,
        time(23, 59),
    )


def test_as_of_time_and_year_rollover() -> None:
    line = "KNYC DS 1500 31/12 731403/ 560600// 73/ 56//="
    (rec,) = parse_dsm(line, issued_on=date(2025, 1, 1))
    assert rec.climate_date == date(2024, 12, 31)
    assert rec.as_of_lst == time(15, 0)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("KNYC DS 08/10 M51403/ 560600//=", "cannot read"),
        ("KNYC DS 08/10 732503/ 560600//=", "invalid time"),
        ("KNYC DS 08/10 561403/ 730600//=", "minimum 73 above"),
        ("KNYC DS 31/02 731403/ 560600//=", "day/month"),
        ("KNYC DS 08/10 731403/ 560600//=", "far from"),
        ("KNYC DS garbage=", "not understood"),
    ],
)
def test_malformed(line: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_dsm(line, issued_on=date(2025, 1, 1))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text())
def test_fuzzed_text_never_gives_a_value(text: str) -> None:
    with pytest.raises(ParseError):
        parse_dsm(text, issued_on=ISSUED)
