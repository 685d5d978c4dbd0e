"""Shared test fixtures: where the real reference data lives, and factories used everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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
