"""Series fee schedules read from the exchange, re-read hourly, kept through a failed read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel, FeeType
from milkbot.domain.market import Series
from milkbot.errors import UpstreamError
from milkbot.trader.fees import SeriesFees
from milkbot.venues.kalshi import parsing
from tests.weather.conftest import NWS_API

LISTED = NWS_API.parents[1] / "kalshi" / "legacy-2026-01_series_list_response.json"


def _real(ticker: str) -> dict[str, Any]:
    series = json.loads(LISTED.read_text())["response"]["series"]
    found: dict[str, Any] = next(s for s in series if s["ticker"] == ticker)
    return found


class Exchange:
    """Answers ``get_series`` from a payload the test sets (None: the read fails)."""

    def __init__(self, payload: dict[str, Any] | None) -> None:
        self.payload = payload
        self.reads = 0

    async def get_series(self, series_ticker: str) -> Series:
        self.reads += 1
        if self.payload is None:
            raise UpstreamError(f"GET /series/{series_ticker}: 503")
        return parsing.series(self.payload)


async def test_schedules_are_read_cached_re_read_and_kept_through_failures() -> None:
    clock = FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
    exchange = Exchange(_real("KXHIGHNY"))
    fees = SeriesFees(exchange, clock)
    assert await fees.refresh("KXHIGHNY") == FeeModel(FeeType.QUADRATIC, Decimal(1))
    clock.advance(timedelta(minutes=59))
    await fees.refresh("KXHIGHNY")
    assert exchange.reads == 1  # younger than the hour

    clock.advance(timedelta(minutes=1))
    exchange.payload = _real("KXHIGHNY") | {
        "fee_type": "quadratic_with_maker_fees",
        "fee_multiplier": 0.5,
    }
    changed = await fees.refresh("KXHIGHNY")
    assert changed == FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal("0.5"))
    assert fees.for_ticker("KXHIGHNY-26JUL12-T82", FeeModel()) == changed
    assert fees.for_ticker("KXHIGHCHI-26JUL12-T82", FeeModel()) == FeeModel()  # never read

    clock.advance(timedelta(hours=1))
    exchange.payload = None
    assert await fees.refresh("KXHIGHNY") == changed  # a failed re-read keeps the last one
    assert exchange.reads == 3


async def test_a_series_never_read_has_no_schedule_and_is_retried_once_a_minute() -> None:
    clock = FixedClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
    exchange = Exchange(None)
    fees = SeriesFees(exchange, clock)
    assert await fees.refresh("KXHIGHNY") is None
    clock.advance(timedelta(seconds=30))
    assert await fees.refresh("KXHIGHNY") is None
    assert exchange.reads == 1
    clock.advance(timedelta(seconds=30))
    exchange.payload = _real("KXHIGHNY")
    assert await fees.refresh("KXHIGHNY") == FeeModel()
    assert exchange.reads == 2
