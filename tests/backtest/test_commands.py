"""`milkbot backtest` end to end, as a process: outputs, and clear errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from milkbot.backtest.commands import backtest
from milkbot.backtest.metrics import METRIC_KEYS
from milkbot.backtest.report import PLOTS
from milkbot.errors import ConfigError, DatasetError


def milkbot(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI."""
    return subprocess.run(
        [sys.executable, "-m", "milkbot", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_backtest_writes_metrics_report_and_plots(quotes_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = milkbot("backtest", str(quotes_dir), "--out", str(out), "--allow-no-weather")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert tuple(metrics) == METRIC_KEYS
    assert metrics["n_trades"] > 0
    ppc = metrics["pnl_per_contract_cents"]
    assert set(ppc) == {"value", "ci95", "bootstrap"}
    lo, hi = ppc["ci95"]
    assert lo <= ppc["value"] <= hi
    assert set(metrics["by_city"]) == {"CHI", "LAX", "NYC"}
    for name in PLOTS:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(PLOTS)
    assert "<h2>Trades</h2>" in html
    rows = (out / "trades.csv").read_text().splitlines()
    assert len(rows) == metrics["n_trades"] + 1
    run = json.loads((out / "run.json").read_text())
    assert run["decisions"] > 0 and run["router"] == "direct"


def test_an_unknown_city_is_a_configuration_error(quotes_dir: Path, tmp_path: Path) -> None:
    done = milkbot("backtest", str(quotes_dir), "--out", str(tmp_path / "o"), "--cities", "NYC,XYZ")
    assert done.returncode == 2
    assert "unknown city 'XYZ'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("extra", "error", "text"),
    [
        ({"date_from": "2031-01-01"}, DatasetError, "no events between 2031-01-01"),
        ({"date_from": "June"}, ConfigError, "--from 'June' is not a date"),
        ({"date_from": "2026-06-20", "date_to": "2026-06-01"}, ConfigError, "is after --to"),
        ({"depth": "ten"}, ConfigError, "--depth 'ten' is not a number"),
        ({"cities": "LAX,DEN"}, DatasetError, "no events for DEN"),
    ],
)
def test_bad_input_fails_with_a_clear_message(
    quotes_dir: Path, tmp_path: Path, extra: dict[str, str], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        backtest([quotes_dir], tmp_path / "o", **extra)  # type: ignore[arg-type]
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_a_missing_dataset_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nope'}: not a directory"):
        backtest([tmp_path / "nope"], tmp_path / "o")
