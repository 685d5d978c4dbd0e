"""Backtest outputs: ``metrics.json``, ``run.json``, ``trades.csv``, PNG plots, ``report.html``.

The HTML report is self-contained (plots embedded as base64 PNG, no external assets).
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from milkbot.backtest.metrics import compute_metrics
from milkbot.backtest.runner import BacktestResult

PLOTS = ("equity", "drawdown", "pnl_by_city", "pnl_by_strategy", "calibration")
TRADE_ROWS_IN_HTML = 2000
TRADE_COLUMNS = (
    "ts",
    "ticker",
    "city",
    "side",
    "count",
    "price",
    "fee",
    "taker",
    "strategy",
    "result",
    "pnl",
)


def _figure() -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    return fig, ax


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _equity(result: BacktestResult, path: Path) -> None:
    fig, ax = _figure()
    if result.equity:
        ts = [t for t, _ in result.equity]
        eq = [float(e) for _, e in result.equity]
        ax.plot(ts, eq, lw=1.2, color="#1f77b4")
    ax.axhline(float(result.config.starting_cash), color="grey", lw=0.8, ls="--")
    ax.set_title("Equity (marked at the executable side of the book)")
    ax.set_ylabel("dollars")
    fig.autofmt_xdate()
    _save(fig, path)


def _drawdown(result: BacktestResult, path: Path) -> None:
    fig, ax = _figure()
    if result.equity:
        ts = [t for t, _ in result.equity]
        eq = np.array([float(e) for _, e in result.equity])
        peak = np.maximum.accumulate(np.concatenate(([float(result.config.starting_cash)], eq)))[1:]
        ax.fill_between(ts, -(peak - eq), 0, color="#d62728", alpha=0.5, step="post")
    ax.set_title("Drawdown from the running maximum")
    ax.set_ylabel("dollars")
    fig.autofmt_xdate()
    _save(fig, path)


def _bars(values: dict[str, float], title: str, path: Path) -> None:
    fig, ax = _figure()
    names = list(values)
    vals = [values[n] for n in names]
    colors = ["#2ca02c" if v >= 0 else "#d62728" for v in vals]
    ax.bar(names, vals, color=colors)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(title)
    ax.set_ylabel("dollars, net of fees")
    if not names:
        ax.text(0.5, 0.5, "no trades", ha="center", va="center", transform=ax.transAxes)
    _save(fig, path)


def reliability(
    probs: Sequence[float], outcomes: Sequence[int], bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean probability, observed frequency, count) per equal-width probability bin."""
    p = np.asarray(probs, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    out = []
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append((float(p[sel].mean()), float(y[sel].mean()), int(sel.sum())))
    return out


def calibration_rows(result: BacktestResult) -> dict[str, tuple[list[float], list[int]]]:
    """Model and market probabilities of every bracket at every decision, with outcomes."""
    model: tuple[list[float], list[int]] = ([], [])
    market: tuple[list[float], list[int]] = ([], [])
    for d in result.decisions:
        for i, y in enumerate(d.outcomes):
            if y is None:
                continue
            model[0].append(d.model[i])
            model[1].append(y)
            if d.market and d.market[i] is not None:
                market[0].append(float(d.market[i] or 0.0))
                market[1].append(y)
    return {"model": model, "market": market}


def _calibration(result: BacktestResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    drawn = False
    for name, (p, y) in calibration_rows(result).items():
        pts = reliability(p, y)
        if pts:
            ax.plot(
                [a for a, _, _ in pts],
                [b for _, b, _ in pts],
                marker="o",
                label=f"{name} (n={len(p)})",
            )
            drawn = True
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("probability at the decision")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration at decision times")
    if drawn:
        ax.legend(loc="upper left")
    else:
        ax.text(0.5, 0.5, "no decisions", ha="center", va="center", transform=ax.transAxes)
    _save(fig, path)


def write_plots(result: BacktestResult, metrics: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write every plot as PNG into ``out``; return their paths by name."""
    paths = {name: out / f"{name}.png" for name in PLOTS}
    _equity(result, paths["equity"])
    _drawdown(result, paths["drawdown"])
    _bars(
        {k: v["pnl_net_dollars"] for k, v in metrics["by_city"].items()},
        "P&L by city",
        paths["pnl_by_city"],
    )
    _bars(
        {k: v["pnl_net_dollars"] for k, v in metrics["by_strategy"].items()},
        "P&L by strategy (largest contribution to the edge)",
        paths["pnl_by_strategy"],
    )
    _calibration(result, paths["calibration"])
    return paths


def trade_rows(result: BacktestResult) -> list[dict[str, str]]:
    """The trade list: one row per fill."""
    return [
        {
            "ts": f.ts.isoformat(),
            "ticker": f.ticker,
            "city": f.city,
            "side": f.side,
            "count": str(f.count),
            "price": str(f.price),
            "fee": str(f.fee),
            "taker": "yes" if f.is_taker else "no",
            "strategy": f.strategy,
            "result": f.result,
            "pnl": str(f.pnl),
        }
        for f in result.fills
    ]


def pnl_by_month(result: BacktestResult) -> list[list[object]]:
    """Trades, contracts, fees and P&L (held to settlement) per calendar month of the fill."""
    months: dict[str, list[Decimal]] = {}
    for f in result.fills:
        acc = months.setdefault(f"{f.ts:%Y-%m}", [Decimal(0)] * 4)
        acc[0] += 1
        acc[1] += f.count
        acc[2] += f.fee
        acc[3] += f.pnl
    return [[m, int(a[0]), str(a[1]), str(a[2]), str(a[3])] for m, a in sorted(months.items())]


def _jsonable(x: object) -> object:
    if isinstance(x, Decimal):
        return str(x)
    if isinstance(x, datetime):
        return x.isoformat()
    if hasattr(x, "isoformat"):
        return x.isoformat()
    if hasattr(x, "total_seconds"):
        return x.total_seconds()
    return str(x)


def run_document(result: BacktestResult, sources: Sequence[str]) -> dict[str, Any]:
    """Everything about the run besides the metrics: inputs, configuration, counts, trips."""
    cfg = result.config
    return {
        "datasets": list(sources),
        "config": json.loads(json.dumps(asdict(cfg), default=_jsonable)),
        "decision_hours_before_close": cfg.decision_hours(),
        "ensemble": result.ensemble_source,
        "router": result.router,
        "events_skipped": result.skipped,
        "decision_times": len(result.equity) - 1 if result.equity else 0,
        "decisions": len(result.decisions),
        "not_decided": result.not_decided,
        "orders": len(result.orders),
        "orders_rejected": sum(1 for o in result.orders if o.rejected),
        "cancels": result.cancels,
        "venue": asdict(result.venue_stats),
        "prints_indexed": result.n_prints,
        "quotes_indexed": result.n_quotes,
        "breaker_log": result.trips,
        "final_equity_dollars": str(result.final_equity),
        "timings_seconds": result.timings,
    }


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _groups(doc: dict[str, Any], first: str) -> str:
    keys = [first, "n_trades", "contracts", "pnl_net_dollars", "fees_dollars"]
    rows = []
    for name, v in doc.items():
        rows.append([name, *(v.get(k, "") for k in keys[1:]), v.get("pnl_per_contract_cents")])
    return _table(rows, [*keys, "pnl_per_contract_cents"])


def write_html(
    result: BacktestResult,
    metrics: dict[str, Any],
    run: dict[str, Any],
    plots: dict[str, Path],
    path: Path,
) -> None:
    """The self-contained HTML report."""
    summary = [[k, json.dumps(metrics[k])] for k in metrics if k not in ("by_city", "by_strategy")]
    trades = trade_rows(result)
    shown = trades[:TRADE_ROWS_IN_HTML]
    note = (
        f"<p>First {len(shown)} of {len(trades)} trades; all of them are in trades.csv.</p>"
        if len(trades) > len(shown)
        else f"<p>{len(trades)} trades (also in trades.csv).</p>"
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "th{background:#eee}img{max-width:100%}"
        "pre{background:#f6f6f6;padding:0.5em;font-size:0.8em;white-space:pre-wrap}"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Milkbot backtest</title>",
        f"<style>{style}</style></head><body>",
        "<h1>Milkbot backtest</h1>",
        f"<p>Datasets: {html.escape(', '.join(run['datasets']))}<br>",
        f"Parameters: {html.escape(str(run['ensemble']))}<br>",
        f"Decision times (hours before close): {run['decision_hours_before_close']}; "
        f"order routing: {html.escape(str(run['router']))}</p>",
        "<h2>Summary</h2>",
        _table(summary, ["metric", "value"]),
        "<h2>Equity</h2>",
        _img(plots["equity"], "equity curve"),
        "<h2>Drawdown</h2>",
        _img(plots["drawdown"], "drawdown"),
        "<h2>P&amp;L by city</h2>",
        _img(plots["pnl_by_city"], "P&L by city"),
        _groups(metrics["by_city"], "n_events"),
        "<h2>P&amp;L by strategy</h2>",
        "<p>Each trade is attributed to the strategy with the largest contribution to its edge "
        "(weight x own edge) when that is at least half of all positive contributions, else to "
        "'ensemble'.</p>",
        _img(plots["pnl_by_strategy"], "P&L by strategy"),
        _groups(metrics["by_strategy"], "n_trades"),
        "<h2>P&amp;L by month of the fill</h2>",
        _table(pnl_by_month(result), ["month", "trades", "contracts", "fees", "pnl"]),
        "<h2>Calibration</h2>",
        _img(plots["calibration"], "calibration"),
        "<h2>Trades</h2>",
        note,
        _table([[r[c] for c in TRADE_COLUMNS] for r in shown], TRADE_COLUMNS),
        "<h2>Run</h2>",
        f"<pre>{html.escape(json.dumps(run, indent=1))}</pre>",
        "</body></html>",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")


def write_outputs(result: BacktestResult, out: Path, sources: Sequence[str]) -> dict[str, Any]:
    """Write every output file into ``out``; return the metrics document."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = compute_metrics(result)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    run = run_document(result, sources)
    (out / "run.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    with (out / "trades.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(TRADE_COLUMNS))
        writer.writeheader()
        writer.writerows(trade_rows(result))
    plots = write_plots(result, metrics, out)
    write_html(result, metrics, run, plots, out / "report.html")
    return metrics
