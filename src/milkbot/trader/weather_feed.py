"""Weather the demo trader can know: bundled hourly temperatures, revealed as the clock passes."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

from milkbot.datasets import load_dataset
from milkbot.domain.climate_day import climate_day_bounds, running_max
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

    def observed(
        self, station: Station, day: date, as_of: datetime
    ) -> tuple[float | None, float, datetime | None]:
        """Running maximum, hours of readings and the latest reading's time, up to ``as_of``."""
        start, end = climate_day_bounds(day, station)
        seen = [
            (ts, v)
            for ts, v in self._rows.get(station.icao, ())
            if v is not None and start <= ts < end and ts <= as_of
        ]
        if not seen:
            return None, 0.0, None
        return max(v for _, v in seen), float(len(seen)), max(ts for ts, _ in seen)
