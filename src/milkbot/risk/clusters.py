"""Correlation clusters of cities from a rolling window of forecast errors.

Forecast errors (observed settlement high minus the forecast at the decision lead), not raw
temperatures, are correlated: the seasonal cycle makes raw temperatures correlated at any
distance. Per city pair the Pearson correlation over the dates both have in the window is
shrunk toward zero by ``n / (n + shrinkage)`` (short windows overstate correlation), turned
into the distance ``d = sqrt((1 - rho) / 2)`` and clustered with average linkage; the tree is
cut where the average correlation falls below ``cut_correlation``.

A :class:`ClusterMap` is versioned: its ``version`` hashes the parameters, the window and
the assignment, and it records when it was computed. The sizing uses the effective number of
independent bets of a cluster, ``n_eff = n / (1 + (n - 1) rho_bar)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from milkbot.errors import ConfigError, DataError


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Parameters of the clustering.

    Parameters
    ----------
    window_days : int
        Length of the rolling window of forecast errors.
    min_overlap : int
        Dates a city pair must share in the window; fewer gives correlation 0.
    shrinkage : float
        Pseudo-count of the shrinkage of each correlation toward 0.
    cut_correlation : float
        Cities join a cluster while their average-linkage correlation is at least this.
    recompute_every : timedelta
        How often the schedule recomputes the map.
    """

    window_days: int = 90
    min_overlap: int = 20
    shrinkage: float = 10.0
    cut_correlation: float = 0.3
    recompute_every: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.window_days < 2 or self.min_overlap < 3:
            raise ConfigError("window_days >= 2 and min_overlap >= 3 are required")
        if self.shrinkage < 0 or not -1 < self.cut_correlation < 1:
            raise ConfigError("need shrinkage >= 0 and -1 < cut_correlation < 1")


def effective_bets(n: int, avg_correlation: float) -> float:
    """Effective number of independent bets of ``n`` bets with average correlation ``rho``."""
    if n <= 0:
        return 0.0
    rho = max(0.0, min(1.0, avg_correlation))
    return n / (1.0 + (n - 1) * rho)


@dataclass(frozen=True, slots=True)
class ClusterMap:
    """Versioned assignment of cities to correlation clusters."""

    version: str
    computed_at: datetime
    window_start: date
    window_end: date
    cities: tuple[str, ...]
    assignment: Mapping[str, str]
    correlation: tuple[tuple[float, ...], ...]
    config: ClusterConfig = field(default_factory=ClusterConfig)

    def cluster_of(self, city: str) -> str:
        """The cluster id of a city; a city unseen in the window is its own cluster."""
        return self.assignment.get(city, f"solo:{city}")

    def members(self, cluster: str) -> tuple[str, ...]:
        """The cities of a cluster."""
        return tuple(c for c in self.cities if self.assignment[c] == cluster)

    def rho(self, a: str, b: str) -> float:
        """The shrunk correlation of two cities' forecast errors (0 if either is unknown)."""
        if a == b:
            return 1.0
        try:
            i, j = self.cities.index(a), self.cities.index(b)
        except ValueError:
            return 0.0
        return self.correlation[i][j]

    def average_correlation(self, cities: Iterable[str]) -> float:
        """Mean pairwise correlation of a set of cities (0 for fewer than two)."""
        cs = sorted(set(cities))
        pairs = [(a, b) for k, a in enumerate(cs) for b in cs[k + 1 :]]
        if not pairs:
            return 0.0
        return sum(self.rho(a, b) for a, b in pairs) / len(pairs)

    def correlation_scale(self, city: str, active_cities: Iterable[str]) -> float:
        """``n_eff / n`` for the active cities of ``city``'s cluster (1 when alone)."""
        cluster = self.cluster_of(city)
        peers = {c for c in active_cities if self.cluster_of(c) == cluster} | {city}
        n = len(peers)
        if n <= 1:
            return 1.0
        return effective_bets(n, self.average_correlation(peers)) / n


def singleton_map(cities: Sequence[str], computed_at: datetime) -> ClusterMap:
    """A map with every city in its own cluster (no correlation data yet)."""
    cs = tuple(sorted(cities))
    identity = tuple(tuple(1.0 if i == j else 0.0 for j in range(len(cs))) for i in range(len(cs)))
    assignment = {c: f"c{i}" for i, c in enumerate(cs)}
    day = computed_at.date()
    return ClusterMap(
        _version(assignment, identity, ClusterConfig(), day, day),
        computed_at,
        day,
        day,
        cs,
        assignment,
        identity,
    )


def _version(
    assignment: Mapping[str, str],
    corr: Sequence[Sequence[float]],
    config: ClusterConfig,
    start: date,
    end: date,
) -> str:
    payload = {
        "assignment": sorted(assignment.items()),
        "correlation": [[round(x, 6) for x in row] for row in corr],
        "config": [
            config.window_days,
            config.min_overlap,
            config.shrinkage,
            config.cut_correlation,
        ],
        "window": [start.isoformat(), end.isoformat()],
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def correlation_matrix(
    errors: Mapping[str, Mapping[date, float]],
    cities: Sequence[str],
    start: date,
    end: date,
    config: ClusterConfig,
) -> np.ndarray:
    """Shrunk pairwise correlations of forecast errors over dates in ``[start, end]``."""
    n = len(cities)
    corr = np.eye(n)
    windowed = [
        {d: v for d, v in errors[c].items() if start <= d <= end and math.isfinite(v)}
        for c in cities
    ]
    for i in range(n):
        for j in range(i + 1, n):
            common = sorted(windowed[i].keys() & windowed[j].keys())
            if len(common) < config.min_overlap:
                continue
            x = np.array([windowed[i][d] for d in common])
            y = np.array([windowed[j][d] for d in common])
            if x.std() == 0 or y.std() == 0:
                continue
            r = float(np.corrcoef(x, y)[0, 1])
            r *= len(common) / (len(common) + config.shrinkage)
            corr[i, j] = corr[j, i] = r
    return corr


def compute_clusters(
    errors: Mapping[str, Mapping[date, float]],
    as_of: datetime,
    config: ClusterConfig | None = None,
) -> ClusterMap:
    """Cluster cities by the correlation of their forecast errors in the window before ``as_of``.

    ``errors`` maps city -> date -> (observed - forecast) in degF. Only dates strictly before
    ``as_of``'s date are used (a day's error is known only after it settles).
    """
    cfg = config or ClusterConfig()
    cities = tuple(sorted(errors))
    if not cities:
        raise DataError("no cities to cluster")
    end = as_of.date() - timedelta(days=1)
    start = end - timedelta(days=cfg.window_days - 1)
    corr = correlation_matrix(errors, cities, start, end, cfg)
    if len(cities) == 1:
        labels = [1]
    else:
        dist = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, 1.0))
        np.fill_diagonal(dist, 0.0)
        tree = linkage(squareform(dist, checks=False), method="average")
        cut = math.sqrt(0.5 * (1.0 - cfg.cut_correlation))
        labels = [int(x) for x in fcluster(tree, t=cut, criterion="distance")]
    # Name clusters by their alphabetically first member so ids are stable across runs.
    groups: dict[int, list[str]] = {}
    for city, label in zip(cities, labels, strict=True):
        groups.setdefault(label, []).append(city)
    assignment = {c: "+".join(members) for members in groups.values() for c in members}
    matrix = tuple(tuple(float(x) for x in row) for row in corr)
    return ClusterMap(
        _version(assignment, matrix, cfg, start, end),
        as_of,
        start,
        end,
        cities,
        assignment,
        matrix,
        cfg,
    )


@dataclass
class ClusterSchedule:
    """Recompute the cluster map on a schedule and keep every version it produced."""

    config: ClusterConfig
    current: ClusterMap
    history: list[ClusterMap] = field(default_factory=list)

    def due(self, now: datetime) -> bool:
        """Return whether the map is older than ``recompute_every``."""
        return now - self.current.computed_at >= self.config.recompute_every

    def refresh(self, errors: Mapping[str, Mapping[date, float]], now: datetime) -> bool:
        """Recompute if due; return whether a new version replaced the current map."""
        if not self.due(now):
            return False
        new = compute_clusters(errors, now, self.config)
        self.history.append(self.current)
        changed = new.version != self.current.version
        self.current = new
        return changed
