"""`milkbot evaluate` and `milkbot calibrate` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

KEYS = {
    "n_events",
    "n_rows",
    "model",
    "market",
    "climatology",
    "gaussian",
    "by_city",
    "by_strategy",
}


def _milkbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "milkbot", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _check_block(block: dict[str, object] | None) -> None:
    assert block is not None
    assert 0.0 <= float(block["brier"]) <= 1.0  # type: ignore[arg-type]
    assert 0.0 <= float(block["log_loss"]) < 10.0  # type: ignore[arg-type]


@pytest.mark.slow
def test_evaluate_on_quotes_dataset(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _milkbot("evaluate", str(shared_data / "kalshi-quotes-2026-dev"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc) == KEYS
    assert doc["n_events"] > 90 and doc["n_rows"] > 400
    _check_block(doc["model"])
    _check_block(doc["market"])
    assert doc["market"]["n_rows"] == doc["n_rows"]  # identical rows
    assert doc["gaussian"] is None  # the forecasts there are archives, not usable at close - 12 h
    assert set(doc["by_city"]) == {"NYC", "CHI", "LAX"}
    assert doc["by_strategy"]["market"] is not None
    assert (out / "reliability.png").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "| model |" in report and "## By year" in report and "| 2026 |" in report


def test_evaluate_is_deterministic_and_merges_dirs(
    quotes_slice: Callable[[int], Path], nws_slice: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        res = _milkbot("evaluate", str(nws_slice), "--out", str(out), "--hours-before-close", "18")
        assert res.returncode == 0, res.stderr
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    doc = json.loads((a / "metrics.json").read_text())
    assert set(doc) == KEYS
    assert doc["market"] is None  # no prices in a results-only dataset
    _check_block(doc["gaussian"])
    _check_block(doc["climatology"])
    merged = tmp_path / "m"
    res = _milkbot("evaluate", str(quotes_slice(8)), str(nws_slice), "--out", str(merged))
    assert res.returncode == 0, res.stderr
    assert set(json.loads((merged / "metrics.json").read_text())) == KEYS


def test_evaluate_rejects_a_directory_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    res = _milkbot("evaluate", str(tmp_path), "--out", str(tmp_path / "out"))
    assert res.returncode == 1
    assert "holds none of the dataset files" in res.stderr


def test_calibrate_needs_the_datasets(tmp_path: Path) -> None:
    res = _milkbot("calibrate", "--data-root", str(tmp_path))
    assert res.returncode == 1
    assert "missing datasets" in res.stderr


def test_evaluate_without_prices_at_the_decision_time(
    quotes_slice: Callable[[int], Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = _milkbot(
        "evaluate", str(quotes_slice(6)), "--out", str(out), "--hours-before-close", "18"
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["market"] is None  # the only snapshot is at close - 12 h, after T
    assert doc["n_rows"] > 0
    _check_block(doc["model"])


def test_evaluate_on_a_dataset_with_nothing_to_score(shared_data: Path, tmp_path: Path) -> None:
    obs = tmp_path / "obs-only"
    obs.mkdir()
    lines = (shared_data / "ghcnd-2016-2024" / "observations.csv").read_text().splitlines()
    (obs / "observations.csv").write_text("\n".join(lines[:400]) + "\n")
    out = tmp_path / "out"
    res = _milkbot("evaluate", str(obs), "--out", str(out))
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc) == KEYS
    assert doc["n_rows"] == 0 and doc["model"] is None
