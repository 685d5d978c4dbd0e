"""The dashboard's pages under Streamlit's AppTest, reading a real API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
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


def _charts(at: AppTest) -> list[tuple[dict[str, Any], list[pd.DataFrame]]]:
    """Every Vega-Lite chart on the page: its spec and its datasets."""
    out = []
    for chart in at.get("vega_lite_chart"):
        proto: Any = chart.proto
        frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in proto.datasets]
        out.append((json.loads(proto.spec), frames))
    return out


def _table(at: AppTest, first_column: str) -> pd.DataFrame:
    [frame] = [d.value for d in at.dataframe if d.value.columns[0] == first_column]
    assert isinstance(frame, pd.DataFrame)
    return frame


def test_unreachable_api_is_a_clear_state(monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(monkeypatch, f"http://127.0.0.1:{free_port()}")
    assert not at.exception
    # The grid, the city detail, performance and strategies each say so.
    assert [("unreachable" in w.value) for w in at.warning] == [True] * 4
    assert not at.dataframe and not at.get("vega_lite_chart")


def test_performance_tab_draws_equity_and_trades(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, api_server.url)
    subheaders = [s.value for s in at.subheader]
    assert "Equity (P&L, $)" in subheaders and "Recent trades (delayed)" in subheaders
    trades = _table(at, "ts")
    api = httpx.get(api_server.url + "/v1/trades").json()
    assert len(trades) == len(api["trades"]) == api["total"] == 14
    assert list(trades["strategy"].unique()) == ["ensemble"]
    assert trades["price"].tolist() == [0.4] * 14


def test_strategies_section_shows_scores_pnl_and_reliability(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, api_server.url)
    assert not at.exception
    subheaders = [s.value for s in at.subheader]
    assert "Scores and P&L attribution" in subheaders and "Reliability diagram" in subheaders
    table = _table(at, "strategy").set_index("strategy")
    doc = httpx.get(api_server.url + "/v1/strategies").json()
    api = {s["strategy"]: s for s in doc["strategies"]}
    assert sorted(table.index) == sorted(api) == ["climatology", "ensemble"]
    for name, row in table.iterrows():
        assert row["Brier"] == pytest.approx(api[str(name)]["brier"])
        assert row["log loss"] == pytest.approx(api[str(name)]["log_loss"])
        assert row["scored"] == 6
    # Four delayed trades of the settled day, each 3 YES of the winner at 0.40, fee 0.06.
    assert table.loc["ensemble", "realized P&L $"] == pytest.approx(4 * (3 * 0.6 - 0.06))
    [frames] = [fr for sp, fr in _charts(at) if "layer" in sp and len(fr) == 2]
    curves = next(f for f in frames if "strategy" in f.columns)
    calibration = httpx.get(api_server.url + "/v1/calibration").json()["strategies"]
    expected = {
        (c["strategy"], round(b["mean_predicted"], 9), round(b["observed_frequency"], 9))
        for c in calibration
        for b in c["bins"]
    }
    got = {(r.strategy, round(r.predicted, 9), round(r.observed, 9)) for r in curves.itertuples()}
    assert got == expected and {s for s, _, _ in got} == {"climatology", "ensemble"}


def test_city_detail_view_charts_the_event_and_lists_settlements(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, api_server.url)
    assert at.selectbox(key="city").value == "NYC"
    assert "New York · KNYC" in [s.value for s in at.subheader]
    captions = [c.value for c in at.caption]
    assert "KXHIGHNY-25JAN10 · 2025-01-10 · open" in captions
    history = next(fr[0] for sp, fr in _charts(at) if "facet" in json.dumps(sp))
    # 10 delayed steps (minutes 0..90, the cutoff) x 6 brackets x 2 forecasters.
    assert len(history) == 10 * 6 * 2
    assert set(history["who"]) == {"Milkbot", "market"}
    weather = next(fr[0] for sp, fr in _charts(at) if "temperature" in json.dumps(sp))
    assert set(weather["what"]) == {"forecast high", "observed max"}
    settled = _table(at, "day")
    assert settled.to_dict("records") == [
        {
            "day": "2025-01-09",
            "CLI high °F": 49,
            "winning bracket": "49° to 50°",
            "P&L $": 1.5,
            "city": "NYC",
        }
    ]
    at.selectbox(key="city").select("CHI").run()
    assert "Chicago · KMDW" in [s.value for s in at.subheader]
    assert [i.value for i in at.info] == ["No delayed data for this city yet."]
    assert "No settled events for this city yet." in [c.value for c in at.caption]


def test_an_api_without_data_yet_is_a_clear_state(
    empty_api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(monkeypatch, empty_api_server.url)
    assert not at.exception and not at.warning
    captions = [c.value for c in at.caption]
    assert captions.count("No delayed data for this city yet.") == 10
    assert "No delayed trades yet." in captions
    assert [i.value for i in at.info] == [
        "No delayed data for this city yet.",
        "No delayed trading results yet.",
        "No strategy has forecast a settled event or traded yet.",
    ]


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
