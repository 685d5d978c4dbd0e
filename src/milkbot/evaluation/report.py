"""Turn a :class:`RunResult` into ``metrics.json``, ``reliability.png`` and ``report.md``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from milkbot.evaluation.metrics import coverage, reliability, score
from milkbot.evaluation.runner import STRATEGY_NAMES, RunResult

BASELINES = ("market", "climatology", "gaussian")
_COLUMN = {"market": "market", "climatology": "p_climatology", "gaussian": "gaussian"}


def scored_rows(run: RunResult) -> tuple[pd.DataFrame, str]:
    """The rows that are scored, and a sentence saying which they are."""
    df = run.rows()
    if df.empty:
        return df, "no labelled market could be scored"
    priced = bool(df["market_scorable"].any())
    if run.index.has_quotes and priced:
        rows = df[df["market_scorable"]]
        rule = "markets with a two-sided quote at the decision time"
    elif run.index.has_trades and priced:
        rows = df[df["market_scorable"]]
        rule = "markets with a trade at most 3 h old at the decision time (no quotes in the data)"
    elif run.index.has_quotes or run.index.has_trades:
        rows = df.assign(market=np.nan)
        rule = "all labelled markets (no market price at the decision time, so no market score)"
    else:
        rows = df
        rule = "all labelled markets" + (
            " (synthetic six-bracket events around the first forecast)"
            if bool(df["synthetic"].any())
            else ""
        )
    return rows.reset_index(drop=True), rule


def _block(rows: pd.DataFrame, column: str) -> dict[str, Any] | None:
    """Score a baseline on the rows where it exists, with the model on those same rows."""
    sub = rows[rows[column].notna()]
    if sub.empty:
        return None
    y = sub["outcome"].to_numpy(dtype=float)
    base = score(sub[column].to_numpy(dtype=float), y)
    model = score(sub["model"].to_numpy(dtype=float), y)
    assert base is not None and model is not None
    out: dict[str, Any] = dict(base)
    out["n_rows"] = len(sub)
    out["model_same_rows"] = model
    return out


def _summary(rows: pd.DataFrame) -> dict[str, Any]:
    y = rows["outcome"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "n_events": int(rows["event_ticker"].nunique()),
        "n_rows": len(rows),
        "model": score(rows["model"].to_numpy(dtype=float), y),
    }
    for b in BASELINES:
        out[b] = _block(rows, _COLUMN[b])
    return out


def metrics(run: RunResult) -> dict[str, Any]:
    """The metrics.json document."""
    rows, _ = scored_rows(run)
    if rows.empty:
        empty: dict[str, Any] = {"n_events": 0, "n_rows": 0, "model": None}
        empty.update(dict.fromkeys(BASELINES))
        empty.update({"by_city": {}, "by_strategy": {}})
        return empty
    doc = _summary(rows)
    doc["by_city"] = {str(c): _summary(g) for c, g in rows.groupby("city", sort=True)}
    by_strategy: dict[str, Any] = {}
    for name in STRATEGY_NAMES:
        col = f"p_{name}"
        block = _block(rows, col)
        if block is None:
            by_strategy[name] = None
            continue
        sub = rows[rows[col].notna()]
        block["mean_weight"] = round(float(sub[f"w_{name}"].mean()), 6)
        mk = sub[sub["market"].notna()]
        block["market_same_rows"] = score(
            mk["market"].to_numpy(dtype=float), mk["outcome"].to_numpy(dtype=float)
        )
        by_strategy[name] = block
    doc["by_strategy"] = by_strategy
    return doc


def by_year(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The summary of each calendar year of the events' dates (the market may drift)."""
    years = rows["event_date"].astype(str).str[:4]
    return {str(y): _summary(g) for y, g in rows.groupby(years, sort=True)}


def _ratio(blk: dict[str, Any] | None) -> str:
    """Model Brier over the baseline's, on the baseline's rows."""
    if blk is None or not blk.get("brier"):
        return "—"
    return f"{blk['model_same_rows']['brier'] / blk['brier']:.3f}"


def distribution_checks(run: RunResult) -> dict[str, Any]:
    """PIT histogram and central-interval coverage of the continuous distributions."""
    out: dict[str, Any] = {}
    for which in ("model", "gaussian", *STRATEGY_NAMES):
        pits = run.pits(which)
        if not pits:
            continue
        hist, _ = np.histogram(pits, bins=10, range=(0.0, 1.0))
        out[which] = {
            "n_events": len(pits),
            "pit_histogram": [int(h) for h in hist],
            "coverage_50": round(coverage(pits, 0.5), 4),
            "coverage_80": round(coverage(pits, 0.8), 4),
            "coverage_90": round(coverage(pits, 0.9), 4),
        }
    return out


def plot_reliability(rows: pd.DataFrame, path: Path) -> None:
    """Reliability diagram of the model and the market."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    y = rows["outcome"].to_numpy(dtype=float) if not rows.empty else np.array([])
    for col, label, marker in (("model", "model", "o"), ("market", "market", "s")):
        if rows.empty:
            continue
        sub = rows[rows[col].notna()]
        if sub.empty:
            continue
        pts = reliability(sub[col].to_numpy(dtype=float), sub["outcome"].to_numpy(dtype=float))
        ax.plot(
            [p[0] for p in pts], [p[1] for p in pts], marker=marker, label=f"{label} (n={len(sub)})"
        )
    del y
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability per market")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(block: dict[str, Any] | None, key: str) -> str:
    if block is None or block.get(key) is None:
        return "—"
    v = block[key]
    return f"{v:.4f}" if isinstance(v, float) and math.isfinite(v) else str(v)


def markdown(
    run: RunResult, doc: dict[str, Any], checks: dict[str, Any], sources: list[str]
) -> str:
    """A readable report."""
    _, rule = scored_rows(run)
    lines = [
        "# Milkbot evaluation",
        "",
        f"Datasets: {', '.join(sources)}",
        f"Decision time: close − {run.hours_before_close:g} h. Rows: {rule}.",
        f"Events: {doc['n_events']}, rows (markets): {doc['n_rows']}.",
        "",
        "Every strategy is fitted out-of-time (rolling origin: only labels and observations "
        "published before each decision time); the ensemble weights likewise.",
        "",
        "| forecaster | rows | Brier | log loss | model Brier (same rows) |"
        " model log loss (same rows) | model / forecaster (Brier) |",
        "|---|---|---|---|---|---|---|",
    ]
    m = doc.get("model")
    lines.append(f"| model | {doc['n_rows']} | {_fmt(m, 'brier')} | {_fmt(m, 'log_loss')} | | | |")
    for b in BASELINES:
        blk = doc.get(b)
        same = blk.get("model_same_rows") if blk else None
        lines.append(
            f"| {b} | {_fmt(blk, 'n_rows')} | {_fmt(blk, 'brier')} | {_fmt(blk, 'log_loss')} | "
            f"{_fmt(same, 'brier')} | {_fmt(same, 'log_loss')} | {_ratio(blk)} |"
        )
    lines += [
        "",
        "## By strategy",
        "",
        "| strategy | rows | Brier | log loss | model Brier (same rows) | mean weight |",
        "|---|---|---|---|---|---|",
    ]
    for name, blk in doc.get("by_strategy", {}).items():
        same = blk.get("model_same_rows") if blk else None
        lines.append(
            f"| {name} | {_fmt(blk, 'n_rows')} | {_fmt(blk, 'brier')} | {_fmt(blk, 'log_loss')} | "
            f"{_fmt(same, 'brier')} | {_fmt(blk, 'mean_weight')} |"
        )
    lines += [
        "",
        "## By city",
        "",
        "| city | rows | model Brier | market Brier | model log loss |",
        "|---|---|---|---|---|",
    ]
    for city, blk in doc.get("by_city", {}).items():
        lines.append(
            f"| {city} | {blk['n_rows']} | {_fmt(blk.get('model'), 'brier')} | "
            f"{_fmt(blk.get('market'), 'brier')} | {_fmt(blk.get('model'), 'log_loss')} |"
        )
    rows, _ = scored_rows(run)
    if not rows.empty:
        lines += [
            "",
            "## By year (event date)",
            "",
            "| year | rows | model Brier | market Brier (same rows) | model / market |",
            "|---|---|---|---|---|",
        ]
        for year, blk in by_year(rows).items():
            mk = blk.get("market")
            lines.append(
                f"| {year} | {blk['n_rows']} | {_fmt(blk.get('model'), 'brier')} | "
                f"{_fmt(mk, 'brier')} | {_ratio(mk)} |"
            )
    if checks:
        lines += [
            "",
            "## Distribution checks (events with a settled value)",
            "",
            "| forecaster | events | PIT histogram (10 bins) | 50 % | 80 % | 90 % |",
            "|---|---|---|---|---|---|",
        ]
        for name, c in checks.items():
            lines.append(
                f"| {name} | {c['n_events']} | {' '.join(map(str, c['pit_histogram']))} | "
                f"{c['coverage_50']:.3f} | {c['coverage_80']:.3f} | {c['coverage_90']:.3f} |"
            )
        lines.append("")
        lines.append("Coverage = share of mid-PIT values inside the central band of that level.")
    lines += ["", "![reliability](reliability.png)", ""]
    return "\n".join(lines)


def write_outputs(run: RunResult, out_dir: Path, sources: list[str]) -> dict[str, Any]:
    """Write metrics.json, distribution.json, predictions.csv, reliability.png, report.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = metrics(run)
    checks = distribution_checks(run)
    rows, _ = scored_rows(run)
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    (out_dir / "distribution.json").write_text(json.dumps(checks, indent=1, sort_keys=True) + "\n")
    rows.to_csv(out_dir / "predictions.csv", index=False, float_format="%.6f")
    plot_reliability(rows, out_dir / "reliability.png")
    (out_dir / "report.md").write_text(markdown(run, doc, checks, sources))
    return doc
