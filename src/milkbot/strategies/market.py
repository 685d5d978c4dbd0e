"""Strategy 4: the market's implied distribution, recalibrated for favourite/longshot bias.

Each bracket's price is read two ways: its last price (a trade print is moved by an assumed
half-spread toward the mid: a print whose taker bought YES hit the ask, one whose taker
bought NO hit the bid) and a smoothed price (recency- and size-weighted mean of its recent
prints, so one odd print weighs less). Both are normalised over the brackets of a partition.
The recalibrated distribution is a conditional logit over the brackets,

    q_i ~ exp((gamma + stale * [i stale] + lag * lag_i) * log l_i
              + smooth * (log s_i - log l_i)),

with l, s the normalised last and smoothed prices, "stale" a bracket without a price at most
``MAX_PRICE_AGE`` old and lag_i how far its price lags the event's freshest one (see
:func:`price_lags`). gamma > 1 sharpens favourites and cheapens longshots; ``smooth`` moves
from the last print toward the smoothed price; ``stale`` and ``lag`` let brackets nobody
traded lately count as more (or less) settled. All four are fitted by maximum likelihood on
earlier events, recent ones weighing more (shrunk toward the plain normalised market
gamma = 1, the others 0).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from milkbot.domain.brackets import Bracket
from milkbot.domain.distributions import Histogram
from milkbot.features.event import MAX_PRICE_AGE, Event, EventFeatures, MarketPrice
from milkbot.strategies.base import PROB_FLOOR, History, StrategyOutput

MIN_EVENTS = 30
MISSING_PRICE = 0.01
# Half the mean gap (2 cents) between a YES-taker and a NO-taker print of the same market
# within 5 minutes, measured on the tape's events before 2024-03 only.
HALF_SPREAD = 0.01
# E-folding time of a print's weight in the smoothed price, counted from the market's last
# print; a priori, the hour over which weather news moves these markets.
RECENCY_HOURS = 1.0
PRIOR = (1.0, 0.0, 0.0, 0.0)  # gamma, smooth, stale, lag: the plain normalised market
BOUNDS = ((0.3, 3.0), (-1.0, 2.0), (-1.0, 2.0), (-2.0, 2.0))
MAX_AGE_HOURS = MAX_PRICE_AGE.total_seconds() / 3600.0
# Half-life of an earlier event's weight in the fit, counted back from the newest one: the
# market's microstructure drifts (more liquidity, new series), so a season back counts half.
HALF_LIFE_SECONDS = 90 * 86400.0


def _clip(p: float) -> float:
    return min(0.99, max(0.005, p))


def bracket_prices(m: MarketPrice) -> tuple[float | None, float | None, bool]:
    """(last, smoothed, stale) YES price of one bracket; prices are None without any.

    Without recent prints (quotes, or a reduced tape) both prices are ``m.prob``.
    """
    stale = m.prob is None or m.age_hours is None or m.age_hours > MAX_AGE_HOURS
    if m.prob is None:
        return None, None, True
    if not m.prints:
        return _clip(m.prob), _clip(m.prob), stale
    adj = [
        _clip(
            pr.prob
            - (0.0 if pr.taker_yes is None else (HALF_SPREAD if pr.taker_yes else -HALF_SPREAD))
        )
        for pr in m.prints
    ]
    newest = m.prints[-1].age_hours
    w = [
        math.sqrt(pr.count) * math.exp(-(pr.age_hours - newest) / RECENCY_HOURS) for pr in m.prints
    ]
    smooth = sum(wi * a for wi, a in zip(w, adj, strict=True)) / sum(w)
    return adj[-1], _clip(smooth), stale


def price_lags(market: Sequence[MarketPrice]) -> list[float]:
    """How much older each bracket's price is than the event's newest, in ``[0, 1]``.

    Hours behind the freshest bracket over ``MAX_AGE_HOURS`` (capped at 1); 1 for an unpriced
    bracket. When a bracket has moved since another last traded, the older price is the one
    that has not caught up.
    """
    ages = [m.age_hours for m in market if m.age_hours is not None]
    newest = min(ages, default=0.0)
    return [
        1.0 if m.age_hours is None else min(m.age_hours - newest, MAX_AGE_HOURS) / MAX_AGE_HOURS
        for m in market
    ]


def _fill(raw: Sequence[float | None]) -> list[float] | None:
    """Normalised prices of a partition; unpriced brackets as in :func:`implied`."""
    priced = [p for p in raw if p is not None]
    if not priced:
        return None
    missing = MISSING_PRICE
    if len(priced) < max(2, len(raw) // 2):
        # Few brackets priced: the unpriced ones share what the priced ones leave.
        unpriced = len(raw) - len(priced)
        missing = max(0.005, (1.0 - sum(priced)) / unpriced) if unpriced else missing
    vals = [missing if p is None else p for p in raw]
    total = sum(vals)
    return [v / total for v in vals]


def implied(features: EventFeatures) -> list[float] | None:
    """Normalised market probabilities (last prices) of a partition event, or None.

    Unpriced brackets get ``MISSING_PRICE`` when most brackets are priced, else an equal
    share of the probability the priced ones leave. For other events: every bracket's own
    clipped price, or None unless all are priced.
    """
    if features.market is None:
        return None
    raw = [None if m.prob is None else _clip(m.prob) for m in features.market]
    if not features.is_partition:
        return None if any(p is None for p in raw) else [p for p in raw if p is not None]
    return _fill(raw)


def disjoint(brackets: Sequence[Bracket]) -> bool:
    """Whether no whole degree lies in two of the brackets (a partition with gaps)."""
    ordered = sorted(brackets, key=lambda b: -math.inf if b.lowest is None else b.lowest)
    for left, right in itertools.pairwise(ordered):
        if left.highest is None or right.lowest is None or right.lowest <= left.highest:
            return False
    return bool(ordered)


def design(features: EventFeatures) -> np.ndarray | None:
    """Per-outcome regressors, or None.

    Columns: log last, log smoothed - log last, stale * log last, lag * log last.

    The outcomes are the brackets of a partition event; for an event listing only some
    brackets of a partition (disjoint, with gaps) a last row stands for "none of them",
    priced at what the listed prices leave (an unpriced listed bracket at
    ``MISSING_PRICE``). None without any price or for overlapping (threshold) brackets.
    """
    if features.market is None:
        return None
    est = [bracket_prices(m) for m in features.market]
    stale = [1.0 if e[2] else 0.0 for e in est]
    lasts: list[float | None] = [e[0] for e in est]
    smooths: list[float | None] = [e[1] for e in est]
    if not features.is_partition:
        if not disjoint(features.brackets) or all(p is None for p in lasts):
            return None
        for col in (lasts, smooths):
            # An unpriced listed bracket counts as a longshot, as in a partition.
            col[:] = [MISSING_PRICE if p is None else p for p in col]
            col.append(max(0.005, 1.0 - sum(p for p in col if p is not None)))
        stale.append(0.0)
    last = _fill(lasts)
    smooth = _fill(smooths)
    if last is None or smooth is None:
        return None
    ll = np.log(np.maximum(last, PROB_FLOOR))
    ls = np.log(np.maximum(smooth, PROB_FLOOR))
    lag = price_lags(features.market)
    if len(lag) < len(last):
        lag.append(0.0)
    return np.stack([ll, ls - ll, np.array(stale) * ll, np.array(lag) * ll], axis=1)


def recalibrate(p: list[float], gamma: float) -> list[float]:
    """Power recalibration q_i ~ p_i^gamma, normalised."""
    w = [max(PROB_FLOOR, x) ** gamma for x in p]
    s = sum(w)
    return [x / s for x in w]


def fit_gamma(samples: list[tuple[list[float], int]]) -> float:
    """ML estimate of gamma from (implied probabilities, winning index) pairs."""
    if len(samples) < MIN_EVENTS:
        return 1.0
    width = max(len(p) for p, _ in samples)
    logp = np.full((len(samples), width), -np.inf)
    win = np.zeros(len(samples), dtype=int)
    for i, (p, k) in enumerate(samples):
        logp[i, : len(p)] = np.log(np.maximum(p, PROB_FLOOR))
        win[i] = k

    def nll(g: float) -> float:
        z = g * logp
        m = np.max(z, axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.sum(np.exp(z - m), axis=1))
        return float(np.mean(lse - z[np.arange(len(win)), win])) + 0.5 * (
            (g - 1.0) / 1.0
        ) ** 2 / len(win)

    res = minimize_scalar(nll, bounds=(0.3, 3.0), method="bounded", options={"xatol": 1e-5})
    return float(res.x)


def fit_coefficients(
    samples: Sequence[tuple[np.ndarray, int]], weights: Sequence[float] | None = None
) -> tuple[float, float, float, float]:
    """ML (gamma, smooth, stale, lag) of the conditional logit from (design, winner) pairs.

    ``weights`` (default 1) weigh the events' log likelihoods. A unit-variance Gaussian prior
    around ``PRIOR`` (weight 1 against the summed event weights) keeps small or uninformative
    histories at the plain normalised market.
    """
    if len(samples) < MIN_EVENTS:
        return PRIOR
    n = len(samples)
    sw = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    total = float(sw.sum())
    width = max(x.shape[0] for x, _ in samples)
    xs = np.zeros((n, width, len(PRIOR)))
    mask = np.zeros((n, width), dtype=bool)
    win = np.array([k for _, k in samples], dtype=int)
    for i, (x, _) in enumerate(samples):
        xs[i, : x.shape[0]] = x
        mask[i, : x.shape[0]] = True
    prior = np.array(PRIOR)
    rows = np.arange(n)

    def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.where(mask, xs @ beta, -np.inf)
        m = np.max(z, axis=1)
        e = np.exp(z - m[:, None])
        tot = np.sum(e, axis=1)
        prob = e / tot[:, None]
        value = float(sw @ (m + np.log(tot) - z[rows, win])) / total
        grad = (np.einsum("n,nw,nwd->d", sw, prob, xs) - sw @ xs[rows, win]) / total
        d = beta - prior
        return value + 0.5 * float(d @ d) / total, grad + d / total

    res = minimize(nll, prior, jac=True, method="L-BFGS-B", bounds=BOUNDS)
    g, s, st, lg = (float(v) for v in res.x)
    return g, s, st, lg


def _edges(features: EventFeatures) -> tuple[list[int], tuple[float, ...]]:
    order = sorted(
        range(len(features.brackets)),
        key=lambda i: features.brackets[i].continuous_bounds()[0],
    )
    edges: list[float] = []
    for i in order:
        lo, hi = features.brackets[i].continuous_bounds()
        if not edges:
            edges.append(lo)
        edges.append(hi)
    return order, tuple(edges)


@dataclass
class MarketStrategy:
    """Recalibrated market-implied distribution (also the prior of the ensemble)."""

    name: str = "market"
    gamma: float = 1.0
    smooth: float = 0.0
    stale: float = 0.0
    lag: float = 0.0
    n_fit: int = 0

    def fit(self, history: History) -> MarketStrategy:
        """Fit the coefficients on earlier labelled events that had prices (recent ones weigh
        more: see ``HALF_LIFE_SECONDS``)."""
        samples: list[tuple[np.ndarray, int]] = []
        times: list[float] = []
        for feats, event in history.events:
            x = design(feats)
            win = _winner(event, x.shape[0] if x is not None else 0)
            if x is not None and win is not None:
                samples.append((x, win))
                times.append(feats.decision_time.timestamp())
        newest = max(times, default=0.0)
        weights = [0.5 ** ((newest - t) / HALF_LIFE_SECONDS) for t in times]
        g, s, st, lg = fit_coefficients(samples, weights)
        return MarketStrategy(self.name, g, s, st, lg, len(samples))

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Recalibrated implied probabilities and a histogram distribution over the brackets."""
        used: dict[str, float | str] = {
            "gamma": round(self.gamma, 4),
            "smooth": round(self.smooth, 4),
            "stale": round(self.stale, 4),
            "lag": round(self.lag, 4),
            "fit_events": self.n_fit,
        }
        x = design(features)
        if x is None:
            if features.market is None or features.is_partition:
                return None
            return _binary_output(self.name, self.gamma, features, used)
        z = x @ np.array([self.gamma, self.smooth, self.stale, self.lag])
        w = np.exp(z - np.max(z))
        q = [float(v) for v in w / np.sum(w)]
        if not features.is_partition:
            listed = tuple(q[: len(features.brackets)])
            return StrategyOutput(self.name, listed, None, math.nan, used)
        order, edges = _edges(features)
        dist = Histogram(edges, tuple(q[i] for i in order))
        mean = sum(
            qi
            * (
                0.5 * (lo + hi)
                if math.isfinite(lo) and math.isfinite(hi)
                else (hi - 1 if math.isfinite(hi) else lo + 1)
            )
            for qi, (lo, hi) in (
                (q[i], features.brackets[i].continuous_bounds()) for i in range(len(q))
            )
        )
        var = sum(
            qi
            * (
                (
                    0.5 * (lo + hi)
                    if math.isfinite(lo) and math.isfinite(hi)
                    else (hi - 1 if math.isfinite(hi) else lo + 1)
                )
                - mean
            )
            ** 2
            for qi, (lo, hi) in (
                (q[i], features.brackets[i].continuous_bounds()) for i in range(len(q))
            )
        )
        return StrategyOutput(self.name, tuple(q), dist, math.sqrt(var + 1.0 / 3.0), used)


def _binary_output(
    name: str, gamma: float, features: EventFeatures, used: dict[str, float | str]
) -> StrategyOutput | None:
    """Each bracket on its own (overlapping thresholds): power-recalibrated smoothed price."""
    assert features.market is not None
    est = [bracket_prices(m)[1] for m in features.market]
    if any(p is None for p in est):
        return None
    g = gamma
    binary = tuple(x**g / (x**g + (1.0 - x) ** g) for x in est if x is not None)
    return StrategyOutput(name, binary, None, math.nan, used)


def _winner(event: Event, outcomes: int) -> int | None:
    """Index of the winning outcome: the YES bracket, or the "none" row after the brackets."""
    if any(o is None for o in event.outcomes):
        return None
    yes = [i for i, o in enumerate(event.outcomes) if o == 1]
    if len(yes) == 1:
        return yes[0]
    return len(event.outcomes) if not yes and outcomes > len(event.outcomes) else None
