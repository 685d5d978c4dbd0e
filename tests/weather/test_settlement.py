"""The settlement verifier: unit cases, a real CLI, and the full Kalshi tape."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from milkbot.datasets import load_dataset
from milkbot.domain.brackets import Bracket
from milkbot.domain.stations import by_city
from milkbot.errors import DataError
from milkbot.weather.cli_report import parse_cli
from milkbot.weather.commands import register
from milkbot.weather.settlement import (
    SettledMarket,
    verify_against_cli,
    verify_dataset,
    verify_event,
)

CLI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "nws" / "cli"


def _event(
    results: dict[str, bool | None], value: int | None = None, day: date | None = None
) -> list[SettledMarket]:
    """Six-bracket NYC event 30..39: <=30, 31-32, 33-34, 35-36, 37-38, >=39."""
    brackets = {
        "T31L": Bracket.from_strikes("less", None, 31),
        "B31.5": Bracket.from_strikes("between", 31, 32),
        "B33.5": Bracket.from_strikes("between", 33, 34),
        "B35.5": Bracket.from_strikes("between", 35, 36),
        "B37.5": Bracket.from_strikes("between", 37, 38),
        "T38G": Bracket.from_strikes("greater", 38, None),
    }
    return [
        SettledMarket(
            ticker=f"KXHIGHNY-13JAN02-{suffix}",
            event_ticker="KXHIGHNY-13JAN02",
            bracket=b,
            result=results.get(suffix, False),
            expiration_value=value,
            event_date=day,
            station="KNYC",
        )
        for suffix, b in brackets.items()
    ]


@pytest.mark.parametrize(
    ("value", "winner"),
    [(30, "T31L"), (31, "B31.5"), (34, "B33.5"), (38, "B37.5"), (39, "T38G"), (-4, "T31L")],
)
def test_verify_event_finds_winner(value: int, winner: str) -> None:
    verdict = verify_event(_event({winner: True}, value), value)
    assert verdict.ok
    assert verdict.partition
    assert verdict.winning_ticker == f"KXHIGHNY-13JAN02-{winner}"
    assert verdict.markets_checked == 6


def test_verify_event_flags_wrong_result_and_value() -> None:
    markets = _event({"B33.5": True}, 33)
    verdict = verify_event(markets, 35)
    reasons = [d.reason for d in verdict.disagreements]
    assert sum("expiration_value 33 != settled value 35" in r for r in reasons) == 6
    assert any("33° to 34° recorded yes but 35 gives no" in r for r in reasons)
    assert any("35° to 36° recorded no but 35 gives yes" in r for r in reasons)


def test_verify_event_unknown_results_are_not_checked() -> None:
    verdict = verify_event(_event({"B33.5": None}, 33), 33)
    assert verdict.ok
    assert verdict.markets_checked == 5


def test_verify_event_overlap_is_flagged() -> None:
    markets = _event({"B33.5": True}, 33)
    markets.append(
        SettledMarket(
            "KXHIGHNY-13JAN02-X",
            "KXHIGHNY-13JAN02",
            Bracket.from_strikes("between", 33, 33),
            True,
            33,
        )
    )
    verdict = verify_event(markets, 33)
    assert any("overlap" in d.reason for d in verdict.disagreements)


def test_verify_against_real_final_cli() -> None:
    report = parse_cli((CLI_DIR / "CLINYC_2013-01-02_final.txt").read_text())
    assert report.max_f == 33
    good = verify_against_cli(_event({"B33.5": True}, 33, date(2013, 1, 2)), report, by_city("NYC"))
    assert good.ok and good.winning_ticker == "KXHIGHNY-13JAN02-B33.5"
    wrong_day = verify_against_cli(
        _event({"B33.5": True}, 33, date(2013, 1, 3)), report, by_city("NYC")
    )
    assert any("CLI is for 2013-01-02" in d.reason for d in wrong_day.disagreements)
    wrong_bracket = verify_against_cli(
        _event({"B35.5": True}, 35, date(2013, 1, 2)), report, by_city("NYC")
    )
    assert len(wrong_bracket.disagreements) == 8


def test_preliminary_cli_never_settles() -> None:
    report = parse_cli((CLI_DIR / "CLIDSM_2014-10-12_valid_today_5pm_preliminary.txt").read_text())
    verdict = verify_against_cli(_event({"B31.5": False}, None), report, by_city("NYC"))
    assert any("never settles" in d.reason for d in verdict.disagreements)


def test_missing_cli_maximum_raises() -> None:
    text = (CLI_DIR / "CLINYC_2013-01-02_final.txt").read_text()
    report = parse_cli(text.replace("MAXIMUM         33    301 PM", "MAXIMUM         MM    MM    "))
    with pytest.raises(DataError, match="missing"):
        verify_against_cli(_event({}, None), report, by_city("NYC"))


@pytest.mark.slow
def test_tape_reproduces_every_winning_bracket(shared_data: Path) -> None:
    report = verify_dataset(load_dataset([shared_data / "kalshi-tape-2023-2025"]))
    assert report.disagreements == ()
    # The data card: 7,014 markets carry both a result and a settled value.
    assert report.markets_checked == 7014
    assert report.events_checked == report.winners_reproduced == 1169
    assert report.events_winner_not_listed == 0


def _tape_rows(shared_data: Path, n_events: int) -> list[str]:
    with gzip.open(shared_data / "kalshi-tape-2023-2025" / "markets.csv.gz", "rt") as fh:
        lines = fh.read().splitlines()
    header, rows = lines[0], [r for r in lines[1:] if r.split(",")[-1]]
    events = sorted({r.split(",")[1] for r in rows})[:n_events]
    return [header] + [r for r in rows if r.split(",")[1] in events]


def test_cli_command_on_real_rows_and_a_tampered_copy(shared_data: Path, tmp_path: Path) -> None:
    rows = _tape_rows(shared_data, 3)
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "markets.csv").write_text("\n".join(rows) + "\n")
    yes_row = next(i for i, r in enumerate(rows) if ",yes," in r)
    tampered = rows.copy()
    tampered[yes_row] = tampered[yes_row].replace(",yes,", ",no,")
    (bad / "markets.csv").write_text("\n".join(tampered) + "\n")

    app = typer.Typer()
    register(app)

    @app.command()
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        """Do nothing."""

    runner = CliRunner()
    ok = runner.invoke(app, ["verify-settlement", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "disagreements: 0" in ok.output
    assert "events checked: 3" in ok.output
    fail = runner.invoke(app, ["verify-settlement", str(bad)])
    assert fail.exit_code == 1
    assert "disagreements: 1" in fail.output
    assert "recorded no but" in fail.output
