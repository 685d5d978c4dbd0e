"""Versioned parameter files: what ``milkbot calibrate`` fits and the trader loads.

Files live in ``milkbot/strategies/params/params-<version>.json`` inside the package, with
sorted keys and rounded floats so a re-run on the same inputs reproduces the same bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from milkbot.errors import ConfigError
from milkbot.strategies.climatology import MonthlyClimate
from milkbot.strategies.errors_model import ErrorModel

PARAMS_DIR = Path(__file__).resolve().parent / "params"
SCHEMA = 1
_NAME = re.compile(r"^params-(v\d+)\.json$")


@dataclass(frozen=True)
class Params:
    """Fitted parameters of every strategy and the ensemble."""

    version: str
    datasets: tuple[str, ...]
    inputs_sha256: str
    climatology: dict[str, dict[int, MonthlyClimate]] = field(default_factory=dict)
    nws: dict[str, ErrorModel] = field(default_factory=dict)
    market_gamma: float = 1.0
    market_smooth: float = 0.0
    market_stale: float = 0.0
    market_lag: float = 0.0
    nowcast_deltas: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    ensemble_weights: dict[str, float] = field(default_factory=dict)
    placement_counts: dict[int, list[float]] = field(default_factory=dict)
    placement_threshold: dict[str, tuple[float, float]] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Deterministic JSON text."""
        doc = {
            "schema": SCHEMA,
            "version": self.version,
            "datasets": list(self.datasets),
            "inputs_sha256": self.inputs_sha256,
            "climatology": {
                st: {
                    str(m): {
                        "mean": round(c.mean, 3),
                        "sd": round(c.sd, 3),
                        "n": c.n,
                        "last_date": c.last_date.isoformat(),
                    }
                    for m, c in sorted(months.items())
                }
                for st, months in sorted(self.climatology.items())
            },
            "nws": {k: v.to_dict() for k, v in sorted(self.nws.items())},
            "market_gamma": round(self.market_gamma, 4),
            "market_smooth": round(self.market_smooth, 4),
            "market_stale": round(self.market_stale, 4),
            "market_lag": round(self.market_lag, 4),
            "nowcast_deltas": {
                st: [[round(h, 2), round(d, 2)] for h, d in rows]
                for st, rows in sorted(self.nowcast_deltas.items())
            },
            "ensemble_weights": {k: round(v, 4) for k, v in sorted(self.ensemble_weights.items())},
            "evaluation": self.evaluation,
            "placement_counts": {str(k): v for k, v in sorted(self.placement_counts.items())},
            "placement_threshold": {
                k: list(v) for k, v in sorted(self.placement_threshold.items())
            },
        }
        return json.dumps(doc, sort_keys=True, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Params:
        """Parse a parameter file."""
        try:
            d = json.loads(text)
            clim = {
                st: {
                    int(m): MonthlyClimate(
                        float(c["mean"]),
                        float(c["sd"]),
                        int(c["n"]),
                        date.fromisoformat(c["last_date"]),
                    )
                    for m, c in months.items()
                }
                for st, months in d.get("climatology", {}).items()
            }
            return cls(
                version=str(d["version"]),
                datasets=tuple(d["datasets"]),
                inputs_sha256=str(d["inputs_sha256"]),
                climatology=clim,
                nws={k: ErrorModel.from_dict(v) for k, v in d.get("nws", {}).items()},
                market_gamma=float(d.get("market_gamma", 1.0)),
                market_smooth=float(d.get("market_smooth", 0.0)),
                market_stale=float(d.get("market_stale", 0.0)),
                market_lag=float(d.get("market_lag", 0.0)),
                nowcast_deltas={
                    st: [(float(h), float(x)) for h, x in rows]
                    for st, rows in d.get("nowcast_deltas", {}).items()
                },
                ensemble_weights={k: float(v) for k, v in d.get("ensemble_weights", {}).items()},
                evaluation=dict(d.get("evaluation", {})),
                placement_counts={
                    int(k): [float(x) for x in v] for k, v in d.get("placement_counts", {}).items()
                },
                placement_threshold={
                    k: (float(v[0]), float(v[1]))
                    for k, v in d.get("placement_threshold", {}).items()
                },
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"malformed parameter file: {e}") from e


def available_versions(directory: Path = PARAMS_DIR) -> list[str]:
    """Versions present, oldest first."""
    found = [m.group(1) for p in directory.glob("params-*.json") if (m := _NAME.match(p.name))]
    return sorted(found, key=lambda v: int(v[1:]))


def params_path(version: str, directory: Path = PARAMS_DIR) -> Path:
    """Path of one version's file."""
    return directory / f"params-{version}.json"


def load_params(version: str | None = None, directory: Path = PARAMS_DIR) -> Params:
    """Load a parameter version (the latest when None). Raises ConfigError when absent."""
    versions = available_versions(directory)
    if version is None:
        if not versions:
            raise ConfigError(f"no parameter file in {directory}; run `milkbot calibrate`")
        version = versions[-1]
    path = params_path(version, directory)
    if not path.is_file():
        raise ConfigError(f"parameter version {version} not found in {directory}")
    return Params.from_json(path.read_text(encoding="utf-8"))


def write_params(params: Params, directory: Path = PARAMS_DIR) -> Path:
    """Write a parameter file (deterministic bytes) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = params_path(params.version, directory)
    path.write_text(params.to_json(), encoding="utf-8")
    return path
