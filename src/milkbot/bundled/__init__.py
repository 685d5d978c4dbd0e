"""Real-data subsets shipped inside the package so the demo runs with no network.

``kalshi-tape-demo``: three climate days (2025-04-06 .. 2025-04-08) of Kalshi's daily-high
markets for NYC, CHI, MIA, AUS and DEN with their full trade tape and results.
``openmeteo-hourly-demo``: Open-Meteo hourly temperatures for the same cities and days.
Both are MIT-licensed subsets of ``shared/data`` rebuilt by ``make_bundle.py``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from milkbot.errors import DatasetError

NAMES: tuple[str, ...] = ("kalshi-tape-demo", "openmeteo-hourly-demo")


def path(name: str) -> Path:
    """Return the directory of the bundled dataset ``name``.

    Raises :class:`DatasetError` for an unknown name or a missing directory.
    """
    if name not in NAMES:
        raise DatasetError(f"no bundled dataset {name!r} (have: {', '.join(NAMES)})")
    root = resources.files(__name__) / name
    directory = Path(str(root))
    if not directory.is_dir():
        raise DatasetError(f"bundled dataset {name!r} is missing from the installation")
    return directory
