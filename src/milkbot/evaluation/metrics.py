"""Scores of binary per-market probabilities: Brier, log loss, reliability."""

from __future__ import annotations

import math

import numpy as np

LOG_FLOOR = 1e-4


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities against 0/1 outcomes."""
    return float(np.mean((p - y) ** 2))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean binary log loss (natural log), probabilities clipped to [1e-4, 1 - 1e-4]."""
    q = np.clip(p, LOG_FLOOR, 1.0 - LOG_FLOOR)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log(1.0 - q)))


def score(p: np.ndarray, y: np.ndarray) -> dict[str, float] | None:
    """{"brier", "log_loss"} rounded to 6 decimals, or None on no rows."""
    if len(p) == 0:
        return None
    return {"brier": round(brier(p, y), 6), "log_loss": round(log_loss(p, y), 6)}


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed frequency, count) per probability bin."""
    out: list[tuple[float, float, int]] = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    for b in range(bins):
        sel = idx == b
        if sel.any():
            out.append((float(p[sel].mean()), float(y[sel].mean()), int(sel.sum())))
    return out


def coverage(pits: list[float], level: float) -> float:
    """Fraction of mid-PIT values inside the central interval of the given level."""
    if not pits:
        return math.nan
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return float(np.mean([(lo <= x <= hi) for x in pits]))
