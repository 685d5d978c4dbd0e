"""The CLI parser on every real product in tests/fixtures/nws/cli, plus fuzzing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbot.domain.stations import by_city
from milkbot.domain.weather import CliKind, CliReport
from milkbot.errors import ParseError
from milkbot.weather.cli_report import (
    latest_settling_report,
    parse_cli,
    parse_cli_product,
    report_for_station,
)

CLI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "nws" / "cli"


def _text(name: str) -> str:
    return (CLI_DIR / name).read_text()


# file -> [(site, date, kind, period, max, max time, min, min time, valid as of, issued)]
EXPECTED: dict[str, list[tuple[object, ...]]] = {
    "CLINYC_2013-01-02_final.txt": [
        (
            "CENTRAL PARK NY",
            date(2013, 1, 2),
            CliKind.FINAL,
            "YESTERDAY",
            33,
            time(15, 1),
            22,
            time(7, 43),
            None,
            datetime(2013, 1, 3, 6, 16, tzinfo=UTC),
        )
    ],
    "CLIDCA_2026-06-28_final_colon_times.txt": [
        (
            "WASHINGTON NATIONAL DC",
            date(2026, 6, 28),
            CliKind.FINAL,
            "YESTERDAY",
            76,
            time(18, 27),
            72,
            time(8, 46),
            None,
            datetime(2026, 6, 29, 6, 40, tzinfo=UTC),
        )
    ],
    "CLIDSM_2014-10-12_valid_today_5pm_preliminary.txt": [
        (
            "DES MOINES IA",
            date(2014, 10, 12),
            CliKind.PRELIMINARY,
            "TODAY",
            56,
            time(12, 4),
            43,
            time(3, 22),
            time(17, 0),
            datetime(2014, 10, 12, 22, 26, tzinfo=UTC),
        )
    ],
    "CLIBNA_2015-10-19_valid_as_of_9am.txt": [
        (
            "NASHVILLE",
            date(2015, 10, 19),
            CliKind.PRELIMINARY,
            "TODAY",
            47,
            None,
            34,
            None,
            time(9, 0),
            datetime(2015, 10, 19, 14, 21, tzinfo=UTC),
        )
    ],
    "CLIEWN_2014-09-28_correction.txt": [
        (
            "NEW BERN NC",
            date(2014, 9, 28),
            CliKind.CORRECTION,
            "YESTERDAY",
            83,
            time(14, 13),
            62,
            time(6, 17),
            None,
            datetime(2014, 10, 18, 13, 28, tzinfo=UTC),
        )
    ],
    "CLIHOU_2014-11-30_IAH_and_Hobby.txt": [
        (
            "HOUSTON INTERCONTINENTAL",
            date(2014, 11, 30),
            CliKind.FINAL,
            "YESTERDAY",
            80,
            time(14, 33),
            61,
            time(23, 58),
            None,
            datetime(2014, 12, 1, 14, 45, tzinfo=UTC),
        ),
        (
            "HOUSTON/HOBBY AIRPORT",
            date(2014, 11, 30),
            CliKind.FINAL,
            "YESTERDAY",
            79,
            time(14, 0),
            62,
            time(7, 30),
            None,
            datetime(2014, 12, 1, 14, 45, tzinfo=UTC),
        ),
    ],
}


def _fields(r: CliReport) -> tuple[object, ...]:
    return (
        r.site,
        r.climate_date,
        r.kind,
        r.period,
        r.max_f,
        r.max_time_lst,
        r.min_f,
        r.min_time_lst,
        r.valid_as_of_local,
        r.issued_at,
    )


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in CLI_DIR.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_products(name: str) -> None:
    reports = parse_cli_product(_text(name))
    assert [_fields(r) for r in reports] == EXPECTED[name]
    pil = name.split("_", 1)[0]
    assert all(r.pil == pil for r in reports)


def test_fixtures_match_the_shared_reference(shared_reference: Path) -> None:
    for path in CLI_DIR.glob("*.txt"):
        assert path.read_bytes() == (shared_reference / "nws" / "cli" / path.name).read_bytes()


def test_houston_picks_hobby_for_the_registry_station() -> None:
    reports = parse_cli_product(_text("CLIHOU_2014-11-30_IAH_and_Hobby.txt"))
    hobby = report_for_station(reports, by_city("HOU"))
    assert hobby.site == "HOUSTON/HOBBY AIRPORT"
    assert hobby.max_f == 79
    with pytest.raises(ParseError, match="2 summaries"):
        parse_cli(_text("CLIHOU_2014-11-30_IAH_and_Hobby.txt"))


def test_single_station_products_by_pil_or_name() -> None:
    nyc = parse_cli(_text("CLINYC_2013-01-02_final.txt"), by_city("NYC"))
    assert nyc.max_f == 33
    # The DCA headline says "WASHINGTON NATIONAL", not "Reagan": accepted through the PIL.
    dca = parse_cli(_text("CLIDCA_2026-06-28_final_colon_times.txt"), by_city("DC"))
    assert dca.max_f == 76
    with pytest.raises(ParseError, match="no summary"):
        parse_cli(_text("CLINYC_2013-01-02_final.txt"), by_city("CHI"))


def test_kind_settles() -> None:
    assert CliKind.FINAL.settles and CliKind.CORRECTION.settles
    assert not CliKind.PRELIMINARY.settles


def _replace_line(text: str, startswith: str, new: str) -> str:
    lines = text.split("\n")
    idx = next(i for i, line in enumerate(lines) if line.strip().startswith(startswith))
    lines[idx] = new
    return "\n".join(lines)


NYC = _text("CLINYC_2013-01-02_final.txt")


@pytest.mark.parametrize(
    ("line", "value", "at", "record"),
    [
        ("  MAXIMUM         MM                                  ", None, None, False),
        ("  MAXIMUM         95R   3:15 PM 94    1876  39", 95, time(15, 15), True),
        ("  MAXIMUM        101 R  1200 PM 94    1876  39", 101, time(12, 0), True),
        ("\tMAXIMUM\t33\t301 PM", 33, time(15, 1), False),
        ("  MAXIMUM         33    MM      68    1876  39", 33, None, False),
    ],
)
def test_value_line_variants(line: str, value: int | None, at: time | None, record: bool) -> None:
    r = parse_cli(_replace_line(NYC, "MAXIMUM", line))
    assert (r.max_f, r.max_time_lst, r.max_record) == (value, at, record)


def test_negative_values() -> None:
    text = _replace_line(NYC, "MAXIMUM", "  MAXIMUM         -5    301 AM  68    1876  39")
    text = _replace_line(text, "MINIMUM", "  MINIMUM        -12   1159 PM   2    1918  28")
    r = parse_cli(text)
    assert (r.max_f, r.max_time_lst, r.min_f, r.min_time_lst) == (-5, time(3, 1), -12, time(23, 59))


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("MAXIMUM", "  MAXIMUM         3X    301 PM", "cannot read MAXIMUM"),
        ("MAXIMUM", "  MAXIMUM        333    301 PM", "implausible"),
        ("MAXIMUM", "  MAXIMUM         33    1371 PM", "invalid time"),
        ("MAXIMUM", "  MAXIMUM", "cannot read MAXIMUM"),
        ("MAXIMUM", "  HIGHEST         33", "expected one MAXIMUM"),
        ("MINIMUM", "  MINIMUM         44    743 AM", "minimum 44 above maximum 33"),
        ("YESTERDAY", " LAST WEEK", "unexpected temperature period"),
        ("TEMPERATURE (F)", "TEMPERATURES", "no 'TEMPERATURE"),
        ("...THE CENTRAL", "...THE CENTRAL PARK NY CLIMATE SUMMARY FOR JANUARY 32 2013...", "date"),
        ("...THE CENTRAL", "...THE CENTRAL PARK NY CLIMATE SUMMARY FOR JANVIER 2 2013...", "month"),
        ("...THE CENTRAL", "...THE CENTRAL PARK NY CLIMATE SUMMARY FOR JANUARY 4 2013...", "after"),
        ("116 AM EST", "116 AM XYZ THU JAN 3 2013", "time zone"),
    ],
)
def test_malformed_text_raises(old: str, new: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_cli_product(_replace_line(NYC, old, new))


def test_duplicate_maximum_line_raises() -> None:
    text = NYC.replace(
        "  MAXIMUM         33", "  MAXIMUM         34    300 PM\n  MAXIMUM         33", 1
    )
    with pytest.raises(ParseError, match="expected one MAXIMUM"):
        parse_cli_product(text)


@pytest.mark.parametrize("text", ["", "hello", "...THE X CLIMATE SUMMARY...", NYC[:400]])
def test_no_headline_or_truncated(text: str) -> None:
    with pytest.raises(ParseError):
        parse_cli_product(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text())
def test_fuzzed_text_never_crashes_and_never_gives_a_value(text: str) -> None:
    with pytest.raises(ParseError):
        parse_cli_product(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary())
def test_fuzzed_bytes_decoded_never_give_a_value(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_cli_product(raw.decode("latin-1"))


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges that carry the settlement fields (headline to end of temperatures)."""
    spans = []
    upper = text.upper()
    start = 0
    while (h := upper.find("...THE ", start)) >= 0 and "CLIMATE SUMMARY" in upper[h : h + 120]:
        t = upper.find("PRECIPITATION", h)
        spans.append((h - 1, t if t >= 0 else len(text)))
        start = h + 1
    return spans


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(sorted(EXPECTED)),
    st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 5), st.text(max_size=6)),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_real_products_never_give_a_wrong_number(
    name: str, edits: list[tuple[float, int, str]]
) -> None:
    original = _text(name)
    text = original
    touched_protected = False
    for where, delete, insert in edits:
        pos = int(where * len(text))
        spans = _protected_spans(text)
        if any(a <= pos + k <= b for a, b in spans for k in range(-1, delete + 1)):
            touched_protected = True
        text = text[:pos] + insert + text[pos + delete :]
    try:
        reports = parse_cli_product(text)
    except ParseError:
        return
    if not touched_protected:
        got = [(r.site, r.climate_date, r.max_f, r.min_f, r.kind) for r in reports]
        want = [(e[0], e[1], e[4], e[6], e[2]) for e in EXPECTED[name]]
        assert got == want
    for r in reports:
        assert r.max_f is None or -90 <= r.max_f <= 140


def test_latest_settling_report_prefers_the_latest_final_or_correction() -> None:
    final = parse_cli(_text("CLIEWN_2014-09-28_correction.txt"))
    assert final.kind is CliKind.CORRECTION
    day = final.climate_date
    earlier_final = dataclasses.replace(
        final, kind=CliKind.FINAL, max_f=84, issued_at=datetime(2014, 9, 29, 6, tzinfo=UTC)
    )
    prelim = dataclasses.replace(
        final, kind=CliKind.PRELIMINARY, max_f=85, issued_at=datetime(2014, 10, 30, tzinfo=UTC)
    )
    chosen = latest_settling_report([earlier_final, prelim, final], day)
    assert chosen is final and chosen.max_f == 83
    assert latest_settling_report([earlier_final, prelim], day) is earlier_final
    assert latest_settling_report([prelim], day) is None
    assert latest_settling_report([final], date(2014, 9, 29)) is None
    undated = dataclasses.replace(earlier_final, issued_at=None)
    with pytest.raises(ParseError, match="issue time"):
        latest_settling_report([undated, final], day)
