"""Milkbot's public dashboard (``milkbot dashboard``).

Dark, wide, a 10-city grid refreshed every 5 seconds inside a fragment; every API call is
cached process-wide for less than the refresh period, so any number of viewers costs one
call per endpoint per refresh.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import httpx
import pandas as pd
import streamlit as st

from milkbot.dashboard.client import ApiUnavailable, api_url, fetch

REFRESH_SECONDS = 5
CACHE_TTL = REFRESH_SECONDS - 1


@st.cache_resource
def _client() -> httpx.Client:
    return httpx.Client(base_url=api_url(), timeout=3.0)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _get(path: str) -> Any:
    return fetch(_client(), path)


def _pct(p: float | None) -> str:
    return "–" if p is None else f"{100 * p:.0f}%"


def _temp(t: float | None) -> str:
    return "–" if t is None else f"{t:.0f}°F"


def _bracket_chart(brackets: list[dict[str, Any]]) -> alt.Chart:
    rows = []
    for b in brackets:
        for who, key in (("market", "market_prob"), ("Milkbot", "model_prob")):
            if b[key] is not None:
                rows.append({"bracket": b["bracket"], "who": who, "probability": b[key]})
    frame = pd.DataFrame(rows, columns=["bracket", "who", "probability"])
    order = [b["bracket"] for b in brackets]
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("bracket:N", sort=order, title=None),
            yOffset="who:N",
            x=alt.X(
                "probability:Q",
                scale=alt.Scale(domain=[0, 1]),
                title=None,
                axis=alt.Axis(format="%", tickCount=3),
            ),
            color=alt.Color("who:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["bracket", "who", alt.Tooltip("probability:Q", format=".0%")],
        )
        .properties(height=alt.Step(12))
    )
    return chart


def _card(city: dict[str, Any]) -> None:
    st.markdown(f"**{city['name']}** · {city['station']}")
    if city["event_date"] is None:
        st.caption("No delayed data for this city yet.")
        return
    status = city["status"]
    if status == "settled":
        status = f"settled at {city['settled_value_f']}°F ({city['winning_bracket']})"
    st.caption(f"{city['event_date']} · {status}")
    c1, c2 = st.columns(2)
    c1.metric("Forecast high", _temp(city["forecast_high_f"]))
    c2.metric("Observed max", _temp(city["observed_max_f"]))
    if city["brackets"]:
        st.altair_chart(_bracket_chart(city["brackets"]), width="stretch")
    st.caption(
        f"Position: {city['position_band']} · realized P&L ${float(city['realized_pnl']):,.2f}"
    )


@st.fragment(run_every=REFRESH_SECONDS)
def _grid() -> None:
    try:
        data = _get("/v1/cities")
    except ApiUnavailable:
        st.warning("The Analytics API is unreachable; retrying every 5 seconds.")
        return
    st.caption(f"Data as of {data['as_of']} (delayed {data['delay_minutes']} minutes)")
    cities = data["cities"]
    for start in range(0, len(cities), 5):
        for col, city in zip(st.columns(5, border=True), cities[start : start + 5], strict=False):
            with col:
                _card(city)


@st.fragment(run_every=REFRESH_SECONDS)
def _performance() -> None:
    try:
        equity = _get("/v1/equity")
        trades = _get("/v1/trades")
    except ApiUnavailable:
        st.warning("The Analytics API is unreachable; retrying every 5 seconds.")
        return
    points = equity["points"]
    if not points:
        st.info("No delayed trading results yet.")
    else:
        frame = pd.DataFrame(points)
        frame["ts"] = pd.to_datetime(frame["ts"])
        for col in ("equity_pnl", "drawdown"):
            frame[col] = frame[col].astype(float)
        st.subheader("Equity (P&L, $)")
        st.line_chart(frame, x="ts", y="equity_pnl", height=220)
        st.subheader("Drawdown ($)")
        st.area_chart(frame, x="ts", y="drawdown", height=160)
    st.subheader("Recent trades (delayed)")
    if trades["trades"]:
        st.dataframe(pd.DataFrame(trades["trades"]), hide_index=True)
    else:
        st.caption("No delayed trades yet.")


def main() -> None:
    """Render the dashboard."""
    st.set_page_config(page_title="Milkbot", page_icon="🌡️", layout="wide")
    st.title("Milkbot · Kalshi daily highs")
    st.caption(
        "Everything here is delayed by 60 minutes and sanitized: positions are shown as bands."
    )
    grid_tab, perf_tab, about_tab = st.tabs(["Cities", "Performance", "About"])
    with grid_tab:
        _grid()
    with perf_tab:
        _performance()
    with about_tab:
        st.markdown(
            "Milkbot turns NWS and secondary forecasts into calibrated probabilities for each "
            "temperature bracket of Kalshi's daily-high markets, and trades where it disagrees "
            "with the market after fees. This page shows its results **60 minutes late**; it "
            "reads only a public, sanitized analytics API."
        )


main()
