"""The risk CLI commands."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from milkbot.risk.commands import register


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)
    return a


def test_risk_size_prints_the_worked_example() -> None:
    res = CliRunner().invoke(app(), ["risk-size", "--prob", "0.60", "--ask", "0.50"])
    assert res.exit_code == 0, res.output
    # The quarter-Kelly example of test_sizing: 82 contracts, fee ceil(0.07*82*0.25) = 1.44
    assert "buy 82 YES at 0.50: fee 1.44" in res.output


def test_risk_size_without_edge() -> None:
    res = CliRunner().invoke(app(), ["risk-size", "--prob", "0.51", "--ask", "0.50"])
    assert res.exit_code == 0
    assert "no trade" in res.output


def test_risk_clusters_on_real_nws_errors(shared_data) -> None:
    args = ["risk-clusters", str(shared_data / "nws-scs-2021"), "--as-of", "2021-09-30"]
    args += ["--station", "NYC=KNYC", "--station", "PHIL=PHILADELPHIA_PA"]
    args += ["--station", "LAX=LOS_ANGELES_CA", "--window", "120"]
    args += ["--min-lead", "40", "--max-lead", "80"]
    res = CliRunner().invoke(app(), args)
    assert res.exit_code == 0, res.output
    assert "NYC+PHIL: NYC, PHIL" in res.output
    assert "LAX: LAX" in res.output
    assert res.output.startswith("version ")


def test_risk_clusters_rejects_a_bad_station(shared_data) -> None:
    res = CliRunner().invoke(
        app(),
        [
            "risk-clusters",
            str(shared_data / "nws-scs-2021"),
            "--as-of",
            "2021-09-30",
            "--station",
            "NYC",
        ],
    )
    assert res.exit_code != 0
