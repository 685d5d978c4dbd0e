"""Milkbot's public dashboard (``milkbot dashboard``).

Dark, wide: the 10-city grid, a city detail view, performance (equity, drawdown, recent
trades), strategy metrics (scores, P&L attribution, reliability diagram) and an about
section. Each section refreshes every 5 seconds inside a fragment; every API call is cached
process-wide for less than the refresh period, so any number of viewers costs one call per
endpoint per refresh.
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
UNREACHABLE = "The Analytics API is unreachable; retrying every 5 seconds."
WHO_COLORS = alt.Scale(domain=["Milkbot", "market"], range=["#f28e2b", "#4e79a7"])


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
            color=alt.Color(
                "who:N", scale=WHO_COLORS, legend=alt.Legend(orient="bottom", title=None)
            ),
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
    st.caption(f"{city['event_date']} · {_status(city)}")
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
        st.warning(UNREACHABLE)
        return
    st.caption(f"Data as of {data['as_of']} (delayed {data['delay_minutes']} minutes)")
    cities = data["cities"]
    for start in range(0, len(cities), 5):
        for col, city in zip(st.columns(5, border=True), cities[start : start + 5], strict=False):
            with col:
                _card(city)


def _status(city: dict[str, Any]) -> str:
    if city["status"] == "settled":
        return f"settled at {city['settled_value_f']}°F ({city['winning_bracket']})"
    return str(city["status"])


def _history_chart(history: list[dict[str, Any]], order: list[str]) -> alt.Chart:
    rows = [
        {"ts": h["ts"], "bracket": h["bracket"], "who": who, "probability": h[key]}
        for h in history
        for who, key in (("market", "market_prob"), ("Milkbot", "model_prob"))
        if h[key] is not None
    ]
    frame = pd.DataFrame(rows, columns=["ts", "bracket", "who", "probability"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("ts:T", title=None),
            y=alt.Y(
                "probability:Q",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", tickCount=3),
                title=None,
            ),
            color=alt.Color("who:N", scale=WHO_COLORS, legend=alt.Legend(title=None)),
            facet=alt.Facet("bracket:N", sort=order, columns=3, title=None),
            tooltip=[
                "bracket",
                "who",
                alt.Tooltip("ts:T", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("probability:Q", format=".0%"),
            ],
        )
        .properties(height=140, width=260)
    )
    return chart


def _weather_chart(weather: list[dict[str, Any]]) -> alt.Chart:
    rows = [
        {"ts": w["ts"], "what": label, "temperature": w[key]}
        for w in weather
        for label, key in (("forecast high", "forecast_high_f"), ("observed max", "observed_max_f"))
        if w[key] is not None
    ]
    frame = pd.DataFrame(rows, columns=["ts", "what", "temperature"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("ts:T", title=None),
            y=alt.Y("temperature:Q", scale=alt.Scale(zero=False), title="°F"),
            color=alt.Color("what:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["what", alt.Tooltip("ts:T", format="%H:%M"), "temperature"],
        )
        .properties(height=200)
    )
    return chart


def _settlements_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["event_date", "settled_value_f", "winning_bracket", "pnl", "city"]
    )
    frame["pnl"] = frame["pnl"].astype(float)
    return frame.rename(
        columns={
            "event_date": "day",
            "settled_value_f": "CLI high °F",
            "winning_bracket": "winning bracket",
            "pnl": "P&L $",
        }
    )


@st.fragment(run_every=REFRESH_SECONDS)
def _city_detail() -> None:
    try:
        grid = _get("/v1/cities")
    except ApiUnavailable:
        st.warning(UNREACHABLE)
        return
    names = {c["city"]: c["name"] for c in grid["cities"]}
    code = st.selectbox("City", list(names), format_func=lambda c: names[c], key="city")
    if code is None:
        return
    try:
        city = _get(f"/v1/cities/{code}")
    except ApiUnavailable:
        st.warning(UNREACHABLE)
        return
    st.subheader(f"{city['name']} · {city['station']}")
    if city["event_date"] is None:
        st.info("No delayed data for this city yet.")
    else:
        st.caption(f"{city['event_ticker']} · {city['event_date']} · {_status(city)}")
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Forecast high", _temp(city["forecast_high_f"]))
        c2.metric("Observed max", _temp(city["observed_max_f"]))
        c3.metric("Position", city["position_band"])
        c4.metric("Realized P&L", f"${float(city['realized_pnl']):,.2f}")
        st.markdown("**Probability per bracket over time: Milkbot against the market**")
        if city["history"]:
            order = [b["bracket"] for b in city["brackets"]]
            st.altair_chart(_history_chart(city["history"], order))
        else:
            st.caption("No delayed quotes for this event yet.")
        st.markdown("**Forecast high and observed maximum so far**")
        if city["weather"]:
            st.altair_chart(_weather_chart(city["weather"]), width="stretch")
        else:
            st.caption("No delayed weather readings for this event yet.")
    st.markdown("**Recent settlements**")
    if city["recent_settlements"]:
        st.dataframe(_settlements_table(city["recent_settlements"]), hide_index=True)
    else:
        st.caption("No settled events for this city yet.")


@st.fragment(run_every=REFRESH_SECONDS)
def _performance() -> None:
    try:
        equity = _get("/v1/equity")
        trades = _get("/v1/trades")
    except ApiUnavailable:
        st.warning(UNREACHABLE)
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
        columns = ["ts", "city", "bracket", "side", "action", "price", "count", "strategy"]
        frame = pd.DataFrame(trades["trades"], columns=columns)
        frame["price"] = frame["price"].astype(float)
        frame["count"] = frame["count"].astype(float)
        st.dataframe(frame, hide_index=True)
        st.caption(f"The latest {len(trades['trades'])} of {trades['total']} delayed trades.")
    else:
        st.caption("No delayed trades yet.")


def _strategy_table(strategies: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "strategy": s["strategy"],
                "scored": s["scored_forecasts"],
                "Brier": s["brier"],
                "log loss": s["log_loss"],
                "calibration error": s["calibration_error"],
                "trades": s["pnl"]["trades"],
                "realized P&L $": float(s["pnl"]["realized_pnl"]),
            }
            for s in strategies
        ]
    )


def _reliability_chart(calibration: list[dict[str, Any]]) -> alt.LayerChart:
    rows = [
        {
            "strategy": c["strategy"],
            "predicted": b["mean_predicted"],
            "observed": b["observed_frequency"],
            "count": b["count"],
        }
        for c in calibration
        for b in c["bins"]
    ]
    frame = pd.DataFrame(rows, columns=["strategy", "predicted", "observed", "count"])
    unit = alt.Scale(domain=[0, 1])
    diagonal = (
        alt.Chart(pd.DataFrame({"predicted": [0.0, 1.0], "observed": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x=alt.X("predicted:Q", scale=unit), y=alt.Y("observed:Q", scale=unit))
    )
    curves = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("predicted:Q", scale=unit, title="mean predicted probability"),
            y=alt.Y("observed:Q", scale=unit, title="observed frequency"),
            color=alt.Color("strategy:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[
                "strategy",
                alt.Tooltip("predicted:Q", format=".2f"),
                alt.Tooltip("observed:Q", format=".2f"),
                "count",
            ],
        )
    )
    chart: alt.LayerChart = (diagonal + curves).properties(height=360)
    return chart


@st.fragment(run_every=REFRESH_SECONDS)
def _strategies() -> None:
    try:
        strategies = _get("/v1/strategies")
        calibration = _get("/v1/calibration")
    except ApiUnavailable:
        st.warning(UNREACHABLE)
        return
    st.caption(
        "Each strategy's latest forecast for each market before its event settled, scored "
        "against the settlement (lower Brier and log loss are better); P&L of the delayed "
        "trades each strategy drove, fees included, on settled events."
    )
    if not strategies["strategies"]:
        st.info("No strategy has forecast a settled event or traded yet.")
        return
    st.subheader("Scores and P&L attribution")
    score = st.column_config.NumberColumn(format="%.4f")
    st.dataframe(
        _strategy_table(strategies["strategies"]),
        hide_index=True,
        column_config={
            "Brier": score,
            "log loss": score,
            "calibration error": score,
            "realized P&L $": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.subheader("Reliability diagram")
    if calibration["strategies"]:
        st.altair_chart(_reliability_chart(calibration["strategies"]), width="stretch")
    else:
        st.caption("No settled event has been scored yet.")


def main() -> None:
    """Render the dashboard."""
    st.set_page_config(page_title="Milkbot", page_icon="🌡️", layout="wide")
    st.title("Milkbot · Kalshi daily highs")
    st.caption(
        "Everything here is delayed by 60 minutes and sanitized: positions are shown as bands."
    )
    grid_tab, city_tab, perf_tab, strategy_tab, about_tab = st.tabs(
        ["Cities", "City detail", "Performance", "Strategies", "About"]
    )
    with grid_tab:
        _grid()
    with city_tab:
        _city_detail()
    with perf_tab:
        _performance()
    with strategy_tab:
        _strategies()
    with about_tab:
        st.markdown(
            "Milkbot turns NWS and secondary forecasts into calibrated probabilities for each "
            "temperature bracket of Kalshi's daily-high markets, and trades where it disagrees "
            "with the market after fees. This page shows its results **60 minutes late**; it "
            "reads only a public, sanitized analytics API."
        )


main()
