"""The dashboard's pages under Streamlit's AppTest, reading a real API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from milkbot.dashboard import commands
from tests.dashboard.conftest import CITIES, ApiServer
from tests.servers import free_port

APP = Path(commands.__file__).with_name("app.py")


@pytest.fixture(autouse=True)
def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def _run(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    monkeypatch.setenv("MILKBOT_API_URL", url)
    return AppTest.from_file(str(APP), default_timeout=30).run()


def test_grid_shows_ten_city_cards_with_data(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, api_server.url)
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for name in CITIES:
        assert name in text
    captions = " ".join(c.value for c in at.caption)
    assert "delayed 60 minutes" in captions
    assert "No delayed data for this city yet." in captions  # nine cities without rows
    labels = {m.label: m.value for m in at.metric}
    assert labels["Forecast high"].endswith("°F")
    assert "Position: 11-50 contracts" in captions


def test_unreachable_api_is_a_clear_state(monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(monkeypatch, f"http://127.0.0.1:{free_port()}")
    assert not at.exception
    assert any("unreachable" in w.value for w in at.warning)


def test_performance_tab_draws_equity_and_trades(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, api_server.url)
    subheaders = [s.value for s in at.subheader]
    assert "Equity (P&L, $)" in subheaders and "Recent trades (delayed)" in subheaders
    assert len(at.dataframe) == 1


def test_dashboard_process_environment_has_no_credentials() -> None:
    env = commands.dashboard_env(
        "http://127.0.0.1:8000",
        {
            "MILKBOT_KALSHI_KEY_ID": "k",
            "MILKBOT_DATABASE_URL": "postgresql://x",
            "KALSHI_API_KEY": "k",
            "PATH": "/bin",
            "MILKBOT_API_DATABASE_URL": "x",
        },
    )
    assert env == {"PATH": "/bin", "MILKBOT_API_URL": "http://127.0.0.1:8000"}
