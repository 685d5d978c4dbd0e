"""Weather the demo trader can know: bundled hourly temperatures, revealed as the clock passes."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

from milkbot.datasets import load_dataset
from milkbot.domain.climate_day import running_max
from milkbot.domain.stations import Station

SOURCE = "open-meteo-hourly-archive"


class HourlyTemperatures:
    """Hourly temperatures per station from a dataset's ``hourly`` table.

    The bundled table is Open-Meteo's archived model output, which its data card documents
    as a stand-in for hourly observations; readings are labelled with :data:`SOURCE`.
    """

    def __init__(self, dataset_dir: Path) -> None:
        frame = load_dataset([dataset_dir]).hourly
        self._rows: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
        if frame is None:
            return
        for station, ts, temp in zip(frame["station"], frame["ts"], frame["temp_f"], strict=True):
            value = None if temp != temp else float(temp)  # NaN is missing
            self._rows[str(station)].append((ts.to_pydatetime(), value))

    def max_so_far(self, station: Station, day: date, as_of: datetime) -> float | None:
        """Highest temperature in the station's climate day up to ``as_of``, or None."""
        return running_max(self._rows.get(station.icao, ()), day, station, as_of=as_of)
