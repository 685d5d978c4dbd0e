"""Benchmark: cost per ``orderbook_delta`` of the local Kalshi order book.

Replays the real recorded WebSocket stream (tests/fixtures/kalshi) many times:

* ``apply_delta``: the book update alone (Decimal arithmetic + best-level maintenance);
* ``handle_frame``: the full client path per frame (JSON already decoded): seq check,
  pydantic validation of the msg, book update, event emission.

Run: ``.venv/bin/python bench/bench_orderbook.py [repeats]``
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from milkbot.domain.market import OutcomeSide
from milkbot.venues.kalshi.orderbook import LocalOrderBook
from milkbot.venues.kalshi.websocket import KalshiWebSocket

STREAM = Path(__file__).resolve().parent.parent / "tests/fixtures/kalshi"
FRAMES: list[dict[str, Any]] = [
    f["frame"]
    for f in json.loads((STREAM / "real-2026-08_WS_orderbook_delta_stream.json").read_text())[
        "frames"
    ]
]


def bench_apply_delta(repeats: int) -> list[float]:
    """Nanoseconds per delta for the bare book, one figure per repeat."""
    snapshots = [f["msg"] for f in FRAMES if f["type"] == "orderbook_snapshot"]
    deltas = [
        (
            f["msg"]["market_ticker"],
            OutcomeSide(f["msg"]["side"]),
            Decimal(f["msg"]["price_dollars"]),
            Decimal(f["msg"]["delta_fp"]),
        )
        for f in FRAMES
        if f["type"] == "orderbook_delta"
    ]
    out = []
    for _ in range(repeats):
        books = {}
        for s in snapshots:
            b = LocalOrderBook(s["market_ticker"])
            b.apply_snapshot(
                [(Decimal(p), Decimal(q)) for p, q in s.get("yes_dollars_fp", [])],
                [(Decimal(p), Decimal(q)) for p, q in s.get("no_dollars_fp", [])],
            )
            books[s["market_ticker"]] = b
        start = time.perf_counter_ns()
        for ticker, side, price, delta in deltas:
            books[ticker].apply_delta(side, price, delta)
        out.append((time.perf_counter_ns() - start) / len(deltas))
    return out


class _NullConn:
    async def send(self, message: str) -> None:
        pass

    async def recv(self) -> str:
        raise EOFError

    async def close(self) -> None:
        pass


async def bench_handle_frame(repeats: int) -> list[float]:
    """Nanoseconds per delta frame through the whole client frame handler."""
    out = []
    deltas = sum(1 for f in FRAMES if f["type"] == "orderbook_delta")
    tickers = json.loads((STREAM / "real-2026-08_WS_orderbook_delta_stream.json").read_text())[
        "tickers"
    ]
    for _ in range(repeats):
        ws = KalshiWebSocket("ws://bench/trade-api/ws/v2")
        conn = _NullConn()
        ws._conn = conn
        await ws.subscribe("orderbook_delta", tickers)
        await ws.handle_frame(conn, FRAMES[0])  # the "subscribed" reply
        start = time.perf_counter_ns()
        for f in FRAMES[1:]:
            await ws.handle_frame(conn, f)
        elapsed = time.perf_counter_ns() - start
        assert ws.resyncs == 0
        out.append(elapsed / deltas)
    return out


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    n = sum(1 for f in FRAMES if f["type"] == "orderbook_delta")
    book = bench_apply_delta(repeats)
    full = asyncio.run(bench_handle_frame(repeats))
    print(f"real stream: {n} deltas over 12 markets, {repeats} repeats")
    print(
        f"LocalOrderBook.apply_delta: median {statistics.median(book) / 1000:.2f} us/delta, "
        f"min {min(book) / 1000:.2f} us"
    )
    print(
        f"KalshiWebSocket.handle_frame (validate + seq + apply + emit): median "
        f"{statistics.median(full) / 1000:.2f} us/delta, min {min(full) / 1000:.2f} us "
        f"(snapshots and acks included in the time, divided by deltas)"
    )


if __name__ == "__main__":
    main()
