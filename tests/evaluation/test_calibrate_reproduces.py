"""`milkbot calibrate` on the real datasets reproduces the packaged parameter file exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from milkbot.evaluation.calibrate import differing_keys
from milkbot.strategies.params import PARAMS_DIR, available_versions


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_calibrate_reproduces_the_packaged_file(shared_data: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "milkbot", "calibrate", "--data-root", str(shared_data), "--check"],
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    latest = available_versions(PARAMS_DIR)[-1]
    assert res.returncode == 0, (
        f"params-{latest}.json is not what `milkbot calibrate` fits from the current code and "
        f"data; refit it with `milkbot calibrate`.\n{res.stderr[-2000:]}"
    )
    assert "reproduced exactly" in res.stdout


def test_differing_keys_names_what_changed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"version": "v2", "market_gamma": 1.1, "nws": {"x": 1}}))
    b.write_text(json.dumps({"version": "v2", "market_gamma": 1.2, "extra": 0, "nws": {"x": 1}}))
    assert differing_keys(a, b) == ["extra", "market_gamma"]
    assert differing_keys(a, a) == []


def test_check_without_a_file_to_compare_fails_before_fitting(tmp_path: Path) -> None:
    args = ["--data-root", str(tmp_path), "--check", "--out", str(tmp_path / "empty")]
    res = subprocess.run(
        [sys.executable, "-m", "milkbot", "calibrate", *args, "--version", "v9"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 1
    assert "params-v9.json does not exist" in res.stderr
