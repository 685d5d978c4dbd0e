"""Every NWS reference file is copied verbatim and tested; every path we call is in the spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from milkbot.domain.stations import STATIONS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nws"
SPEC = "api/openapi_api.weather.gov_v1.9.0.yaml"
TESTS = Path(__file__).resolve().parent


def test_every_reference_file_is_a_verbatim_fixture_used_by_a_test(shared_reference: Path) -> None:
    nws = shared_reference / "nws"
    sources = "\n".join(p.read_text() for p in TESTS.glob("test_*.py"))
    for ref in sorted(nws.rglob("*")):
        rel = ref.relative_to(nws).as_posix()
        if ref.is_dir() or rel in (SPEC, "README.md"):
            continue
        copy = FIXTURES / rel
        assert copy.is_file(), f"{rel} is not in tests/fixtures/nws"
        assert copy.read_bytes() == ref.read_bytes(), f"{rel} differs from the reference"
        assert ref.name in sources, f"no test reads {rel}"


def _spec_paths(shared_reference: Path) -> set[str]:
    spec = yaml.safe_load((shared_reference / "nws" / SPEC).read_text())
    return set(spec["paths"])


@pytest.mark.parametrize(
    "template",
    [
        "/points/{point}",
        "/gridpoints/{wfo}/{x},{y}",
        "/gridpoints/{wfo}/{x},{y}/forecast",
        "/gridpoints/{wfo}/{x},{y}/forecast/hourly",
        "/stations/{stationId}/observations",
        "/stations/{stationId}/observations/latest",
        "/products/{productId}",
        "/products/types/{typeId}/locations/{locationId}",
    ],
)
def test_client_paths_exist_in_the_openapi_spec(shared_reference: Path, template: str) -> None:
    assert template in _spec_paths(shared_reference)


def test_observation_query_parameters_exist(shared_reference: Path) -> None:
    text = (shared_reference / "nws" / SPEC).read_text()
    block = text[text.index("    /stations/{stationId}/observations:") :][:1200]
    assert "QueryStartTime" in block and "QueryEndTime" in block


def test_cli_locations_are_pil_suffixes() -> None:
    for station in STATIONS:
        assert re.fullmatch(r"CLI[A-Z]{3}", station.cli_product)
        assert station.cli_location == station.cli_product[3:]
