"""Backtest metrics: the exact contents of ``metrics.json`` (defined in ``docs/backtest.md``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from milkbot.backtest.runner import BacktestResult, FillRecord
from milkbot.risk.breakers import KALSHI_DAY_TZ

METRIC_KEYS = (
    "n_events",
    "n_trades",
    "contracts",
    "pnl_net_dollars",
    "fees_dollars",
    "max_drawdown_dollars",
    "sharpe_daily",
    "pnl_per_contract_cents",
    "by_city",
    "by_strategy",
)


def _money(x: Decimal) -> float:
    return float(round(x, 4))


def _ratio(x: float | None) -> float | None:
    if x is None or math.isnan(x) or math.isinf(x):
        return None
    return round(x, 6)


def _group(fills: Iterable[FillRecord]) -> dict[str, Any]:
    rows = list(fills)
    pnl = sum((f.pnl for f in rows), Decimal(0))
    contracts = sum((f.count for f in rows), Decimal(0))
    return {
        "n_trades": len(rows),
        "contracts": float(contracts),
        "pnl_net_dollars": _money(pnl),
        "fees_dollars": _money(sum((f.fee for f in rows), Decimal(0))),
        "pnl_per_contract_cents": _ratio(float(100 * pnl / contracts)) if contracts else None,
    }


def max_drawdown(equity: list[tuple[datetime, Decimal]], start: Decimal) -> Decimal:
    """Largest fall of equity from its running maximum (starting at ``start``), in dollars."""
    peak = start
    worst = Decimal(0)
    for _, e in equity:
        peak = max(peak, e)
        worst = max(worst, peak - e)
    return worst


def daily_pnl(equity: list[tuple[datetime, Decimal]], start: Decimal) -> list[float]:
    """Equity change per Kalshi trading day (00:00 America/New_York), every day of the run."""
    if not equity:
        return []
    closes: dict[date, Decimal] = {}
    for t, e in equity:
        closes[t.astimezone(KALSHI_DAY_TZ).date()] = e
    first, last = min(closes), max(closes)
    out = []
    prev = start
    d = first
    while d <= last:
        cur = closes.get(d, prev)
        out.append(float(cur - prev))
        prev = cur
        d += timedelta(days=1)
    return out


def sharpe(daily: list[float]) -> float | None:
    """Mean over standard deviation of daily P&L (not annualised); None if undefined."""
    if len(daily) < 2:
        return None
    sd = float(np.std(daily, ddof=1))
    if sd == 0:
        return None
    return float(np.mean(daily)) / sd


def bootstrap_ci(
    by_event: list[tuple[float, float]], resamples: int, seed: int
) -> tuple[float, float] | None:
    """95 % interval of 100 * sum(P&L) / sum(contracts), resampling events with replacement."""
    if not by_event or resamples < 1:
        return None
    pnl = np.array([p for p, _ in by_event])
    n = np.array([c for _, c in by_event])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(by_event), size=(resamples, len(by_event)))
    num = pnl[idx].sum(axis=1)
    den = n[idx].sum(axis=1)
    values = 100.0 * num / den
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def compute_metrics(result: BacktestResult) -> dict[str, Any]:
    """The ``metrics.json`` document of a finished backtest."""
    cfg = result.config
    fills = result.fills
    contracts = sum((f.count for f in fills), Decimal(0))
    pnl = result.final_equity - cfg.starting_cash
    per_event: dict[str, list[Decimal]] = {}
    for f in fills:
        acc = per_event.setdefault(f.event_ticker, [Decimal(0), Decimal(0)])
        acc[0] += f.pnl
        acc[1] += f.count
    pairs = [(float(p), float(c)) for p, c in per_event.values() if c > 0]
    ci = bootstrap_ci(pairs, cfg.bootstrap_resamples, cfg.seed)
    daily = daily_pnl(result.equity, cfg.starting_cash)
    cities = sorted({e.city for e in result.events})
    by_city: dict[str, Any] = {}
    for city in cities:
        rows = [f for f in fills if f.city == city]
        doc = {"n_events": sum(e.city == city for e in result.events)}
        doc["n_events_traded"] = len({f.event_ticker for f in rows})
        doc.update(_group(rows))
        by_city[city] = doc
    by_strategy = {
        name: _group(f for f in fills if f.strategy == name)
        for name in sorted({f.strategy for f in fills})
    }
    return {
        "n_events": len(result.events),
        "n_trades": len(fills),
        "contracts": float(contracts),
        "pnl_net_dollars": _money(pnl),
        "fees_dollars": _money(result.fees),
        "max_drawdown_dollars": _money(max_drawdown(result.equity, cfg.starting_cash)),
        "sharpe_daily": _ratio(sharpe(daily)),
        "pnl_per_contract_cents": {
            "value": _ratio(float(100 * pnl / contracts)) if contracts else None,
            "ci95": None if ci is None else [round(ci[0], 4), round(ci[1], 4)],
            "bootstrap": {
                "unit": "event",
                "events": len(pairs),
                "resamples": cfg.bootstrap_resamples,
                "seed": cfg.seed,
            },
        },
        "by_city": by_city,
        "by_strategy": by_strategy,
    }
