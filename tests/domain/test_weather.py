"""Weather value types: invariants, hashing, ensemble statistics."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, date, datetime

import pytest

from milkbot.domain.weather import (
    CliKind,
    CliReport,
    Forecast,
    Observation,
    WeatherSnapshot,
    c_to_f,
)
from milkbot.errors import DataError

T0 = datetime(2025, 7, 10, 12, tzinfo=UTC)


def _report(**kw: object) -> CliReport:
    base: dict[str, object] = {
        "site": "CENTRAL PARK NY",
        "climate_date": date(2025, 7, 9),
        "kind": CliKind.FINAL,
        "period": "YESTERDAY",
        "max_f": 90,
        "max_time_lst": None,
        "min_f": 70,
        "min_time_lst": None,
    }
    base.update(kw)
    return CliReport(**base)  # type: ignore[arg-type]


def test_conversion() -> None:
    assert c_to_f(0.0) == 32.0
    assert c_to_f(100.0) == 212.0
    assert round(c_to_f(22.22222222222222), 9) == 72.0


def test_cli_report_invariants() -> None:
    assert _report().max_f == 90
    with pytest.raises(DataError, match="minimum 91 above maximum 90"):
        _report(min_f=91)
    with pytest.raises(DataError, match="aware"):
        _report(issued_at=datetime(2025, 7, 10, 6))  # noqa: DTZ001
    assert _report(max_f=None).min_f == 70  # a missing maximum is allowed, never invented


def test_forecast_from_members() -> None:
    f = Forecast.from_members(
        source="s", station="KNYC", target_date=date(2025, 7, 10), issued_at=T0, members=(1.0, 3.0)
    )
    assert f.tmax_f == 2.0
    assert f.sigma_f == pytest.approx(2**0.5)
    single = Forecast.from_members(
        source="s", station="KNYC", target_date=date(2025, 7, 10), issued_at=T0, members=(5.0,)
    )
    assert single.sigma_f is None
    with pytest.raises(DataError):
        Forecast.from_members(
            source="s", station="KNYC", target_date=date(2025, 7, 10), issued_at=T0, members=()
        )
    with pytest.raises(DataError):
        Forecast(
            source="s",
            station="K",
            target_date=date(2025, 7, 10),
            issued_at=T0,
            tmax_f=float("nan"),
        )


def test_snapshot_hash_and_tamper() -> None:
    payload = b'{"temperature": 21.5}'
    snap = WeatherSnapshot.from_payload(
        source="nws",
        station="KNYC",
        kind="observation-latest",
        url="u",
        payload=payload,
        retrieved_at=T0,
    )
    assert snap.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert snap.text == payload.decode()
    with pytest.raises(DataError, match="SHA-256"):
        dataclasses.replace(snap, payload=b'{"temperature": 31.5}')
    with pytest.raises(DataError, match="aware"):
        WeatherSnapshot.from_payload(
            source="nws",
            station="KNYC",
            kind="k",
            url="u",
            payload=b"",
            retrieved_at=datetime(2025, 1, 1),  # noqa: DTZ001
        )


def test_observation_needs_aware_time() -> None:
    assert Observation("KNYC", T0, 70.0).temp_f == 70.0
    with pytest.raises(DataError):
        Observation("KNYC", datetime(2025, 1, 1), 70.0)  # noqa: DTZ001
