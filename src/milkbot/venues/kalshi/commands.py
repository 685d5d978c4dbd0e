"""``milkbot discover``: list the open daily-high events per city and every reason to skip one."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

import typer

from milkbot.discovery import DiscoveredEvent, discover_events
from milkbot.domain.stations import STATIONS, Station, by_city
from milkbot.errors import ConfigError


def format_event(ev: DiscoveredEvent) -> list[str]:
    """Human-readable lines for one discovered event."""
    status = "ok" if ev.ok else "FLAGGED"
    close = ev.close_time.isoformat() if ev.close_time else "?"
    lines = [
        f"{ev.station.city:4} {ev.event_ticker:22} day {ev.climate_day} close {close} {status}"
    ]
    for m, b in zip(ev.markets, ev.brackets, strict=True):
        bid = "-" if m.yes_bid is None else f"{m.yes_bid}"
        ask = "-" if m.yes_ask is None else f"{m.yes_ask}"
        lines.append(f"     {m.ticker:28} {b.label():14} bid {bid:>7} ask {ask:>7}")
    lines.extend(f"     ! {p}" for p in ev.problems)
    return lines


def _stations(cities: list[str] | None) -> list[Station]:
    return [by_city(c) for c in cities] if cities else list(STATIONS)


def register(app: typer.Typer) -> None:
    """Add the ``discover`` command."""

    @app.command("discover")
    def discover(
        day: Annotated[
            str | None, typer.Option(help="Climate day YYYY-MM-DD (default: every open day).")
        ] = None,
        city: Annotated[
            list[str] | None, typer.Option(help="City code (repeatable; default: all ten).")
        ] = None,
    ) -> None:
        """Discover the open daily-high events on the configured exchange and check them."""
        from milkbot.settings import load_settings
        from milkbot.venues.kalshi.factory import client_from_settings

        try:
            wanted = date.fromisoformat(day) if day else None
        except ValueError:
            raise ConfigError(f"--day {day!r} is not YYYY-MM-DD") from None
        stations = _stations(city)

        async def run() -> list[DiscoveredEvent]:
            async with client_from_settings(load_settings()) as client:
                return await discover_events(client, stations, wanted)

        events = asyncio.run(run())
        for ev in events:
            for line in format_event(ev):
                typer.echo(line)
        flagged = sum(not e.ok for e in events)
        typer.echo(f"{len(events)} events, {flagged} flagged")
