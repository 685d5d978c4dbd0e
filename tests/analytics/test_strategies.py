"""Strategy scores, reliability data and P&L attribution, checked against hand computations."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from milkbot.analytics.app import DELAY, create_app
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import T0, forecasts, settle, trade

EARLY = [0.10, 0.10, 0.40, 0.20, 0.10, 0.10]
LATE = [0.02, 0.08, 0.68, 0.12, 0.05, 0.05]  # the last ensemble forecast before settlement
AFTER = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # made after the settlement: never scored
FLAT = [1 / 6] * 6
WINNER = 2  # settle() settles on "49° to 50°"
SETTLED_AT = 200


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s = Settings(data_dir=tmp_path_factory.mktemp("strategies") / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(s)
    engine = create_trading_sync_engine(s)
    forecasts(engine, [0], {"ensemble": EARLY, "climatology": FLAT})
    forecasts(engine, [100], {"ensemble": LATE})
    forecasts(engine, [SETTLED_AT + 30], {"ensemble": AFTER, "climatology": AFTER})
    settle(engine, T0 + timedelta(minutes=SETTLED_AT))
    # The next day's event, not settled: its forecasts and trades are never scored.
    forecasts(engine, [150], {"ensemble": AFTER}, event_date=date(2025, 1, 11))
    trade(
        engine,
        10,
        bracket=WINNER,
        side="yes",
        action="buy",
        price="0.40",
        count=3,
        fee="0.06",
        strategy="ensemble",
    )
    trade(
        engine,
        20,
        bracket=WINNER,
        side="yes",
        action="sell",
        price="0.55",
        count=1,
        fee="0.02",
        strategy="ensemble",
    )
    trade(
        engine,
        30,
        bracket=5,
        side="no",
        action="buy",
        price="0.90",
        count=2,
        fee="0.02",
        strategy="climatology",
    )
    trade(
        engine,
        40,
        bracket=1,
        side="yes",
        action="sell",
        price="0.20",
        count=1,
        fee="0.01",
        strategy="climatology",
    )
    trade(
        engine,
        50,
        bracket=0,
        side="yes",
        action="buy",
        price="0.10",
        count=4,
        fee="0.01",
        strategy="ensemble",
        event_date=date(2025, 1, 11),
    )
    engine.dispose()
    return s


async def _get(settings: Settings, minute: int, path: str) -> Any:
    app = create_app(settings, now=_Clock(T0 + timedelta(minutes=minute) + DELAY))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.get(path)
            assert r.status_code == 200, r.text
            return r.json()


def _brier(ps: list[float], winner: int) -> float:
    return sum((p - (i == winner)) ** 2 for i, p in enumerate(ps)) / len(ps)


def _log_loss(ps: list[float], winner: int) -> float:
    return -sum(math.log(p if i == winner else 1 - p) for i, p in enumerate(ps)) / len(ps)


async def test_scores_use_the_latest_forecast_before_settlement(settings: Settings) -> None:
    doc = await _get(settings, SETTLED_AT + 60, "/v1/strategies")
    by_name = {s["strategy"]: s for s in doc["strategies"]}
    assert sorted(by_name) == ["climatology", "ensemble"]
    ens, clim = by_name["ensemble"], by_name["climatology"]
    assert ens["scored_forecasts"] == 6 and clim["scored_forecasts"] == 6
    assert ens["brier"] == pytest.approx(_brier(LATE, WINNER))
    assert ens["log_loss"] == pytest.approx(_log_loss(LATE, WINNER))
    assert clim["brier"] == pytest.approx(_brier(FLAT, WINNER))
    assert clim["log_loss"] == pytest.approx(math.log(6) / 6 + 5 * math.log(6 / 5) / 6)
    assert ens["hit_rate"] == pytest.approx(1 / 6) and ens["mean_prob"] == pytest.approx(1 / 6)
    # Flat 1/6 forecasts with a 1-in-6 hit rate are perfectly calibrated.
    assert clim["calibration_error"] == pytest.approx(0.0, abs=1e-12)
    # LATE in 10 bins: {.02, .08, .05, .05} -> 0 hits, .12 -> 0 hits, .68 -> 1 hit.
    ece = (4 * 0.05 + 1 * 0.12 + 1 * (1 - 0.68)) / 6
    assert ens["calibration_error"] == pytest.approx(ece)
    assert ens["last_forecast_ts"].startswith("2025-01-10T13:40")


async def test_pnl_is_attributed_per_strategy_on_settled_events(settings: Settings) -> None:
    doc = await _get(settings, SETTLED_AT + 60, "/v1/strategies")
    pnl = {s["strategy"]: s["pnl"] for s in doc["strategies"]}
    # ensemble: bought 3 YES of the winner at 0.40, sold 1 at 0.55, fees 0.06 + 0.02;
    # the 4 contracts bought on the unsettled next day count as trades, not in the P&L.
    ens = pnl["ensemble"]
    assert (ens["trades"], ens["settled_trades"]) == (3, 2)
    assert Decimal(ens["contracts"]) == 8 and Decimal(ens["fees"]) == Decimal("0.09")
    assert Decimal(ens["realized_pnl"]) == 3 * Decimal("0.60") - Decimal("0.45") - Decimal("0.08")
    # climatology: 2 NO of a losing bracket bought at 0.90 (+0.10 each), 1 YES of a losing
    # bracket sold at 0.20 (+0.20), fees 0.03.
    clim = pnl["climatology"]
    assert Decimal(clim["realized_pnl"]) == Decimal("0.20") + Decimal("0.20") - Decimal("0.03")


async def test_before_the_settlement_is_delayed_nothing_is_scored(settings: Settings) -> None:
    doc = await _get(settings, SETTLED_AT - 1, "/v1/strategies")
    by_name = {s["strategy"]: s for s in doc["strategies"]}
    assert by_name["ensemble"]["scored_forecasts"] == 0 and by_name["ensemble"]["brier"] is None
    assert by_name["ensemble"]["pnl"]["settled_trades"] == 0
    assert by_name["ensemble"]["pnl"]["trades"] == 3  # minutes 10, 20, 50 are all delayed
    assert (await _get(settings, SETTLED_AT - 1, "/v1/calibration"))["strategies"] == []


async def test_calibration_bins(settings: Settings) -> None:
    doc = await _get(settings, SETTLED_AT + 60, "/v1/calibration?strategy=ensemble")
    assert doc["bins"] == 10
    [ens] = doc["strategies"]
    assert ens["strategy"] == "ensemble" and ens["scored_forecasts"] == 6
    got = [
        (b["lower"], b["upper"], b["mean_predicted"], b["observed_frequency"], b["count"])
        for b in ens["bins"]
    ]
    expected = [(0.0, 0.1, 0.05, 0.0, 4), (0.1, 0.2, 0.12, 0.0, 1), (0.6, 0.7, 0.68, 1.0, 1)]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e)
    coarse = await _get(settings, SETTLED_AT + 60, "/v1/calibration?bins=2")
    by_name = {s["strategy"]: s["bins"] for s in coarse["strategies"]}
    assert [b["count"] for b in by_name["climatology"]] == [6]
    assert [b["count"] for b in by_name["ensemble"]] == [5, 1]
