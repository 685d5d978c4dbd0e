"""schemathesis: every documented operation of the API conforms to its OpenAPI schema."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from milkbot.analytics.app import create_app
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import T0, forecasts, heartbeat, moving_forecasts, seed, settle


def _app():  # type: ignore[no-untyped-def]
    root = Path(__import__("tempfile").mkdtemp(prefix="milkbot-schema-"))
    s = Settings(data_dir=root / "var", api_clock="trader", _env_file=None)  # type: ignore[call-arg]
    upgrade(s)
    engine = create_trading_sync_engine(s)
    seed(engine, range(0, 300, 15))
    forecasts(engine, range(0, 300, 15), moving_forecasts)
    settle(engine, T0 + timedelta(minutes=100))
    heartbeat(engine, T0 + timedelta(minutes=400))
    engine.dispose()
    return create_app(s)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
