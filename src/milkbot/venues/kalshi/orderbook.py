"""Local Kalshi order books maintained from WebSocket snapshots and deltas.

A book holds YES bids and NO bids, each priced on its own leg (Kalshi's default WebSocket
and REST convention). The YES ask is 1 - best NO bid. Each ``orderbook_delta`` subscription
numbers its frames with ``seq``; a gap means frames were lost and the book must be resynced.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from milkbot.domain.market import (
    OrderBookSnapshot,
    OutcomeSide,
    PriceLevel,
    complement,
)
from milkbot.errors import ParseError, TransientUpstreamError

ZERO = Decimal(0)


class SequenceGapError(TransientUpstreamError):
    """Frames of a subscription were lost: its books must be resynced."""

    def __init__(self, sid: int, expected: int, got: int) -> None:
        super().__init__(f"sid {sid}: expected seq {expected}, got {got}")
        self.sid = sid
        self.expected = expected
        self.got = got


class BookCorruptError(ParseError):
    """A delta does not fit the local book (size below zero): resync."""


class SequenceTracker:
    """Per-subscription ``seq`` continuity check."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def observe(self, sid: int, seq: int) -> bool:
        """Record ``seq`` for ``sid``: True for the next frame, False for a duplicate.

        Raises
        ------
        SequenceGapError
            When one or more frames were skipped.
        """
        last = self._last.get(sid)
        if last is not None:
            if seq <= last:
                return False
            if seq != last + 1:
                raise SequenceGapError(sid, last + 1, seq)
        self._last[sid] = seq
        return True

    def forget(self, sid: int) -> None:
        """Drop a subscription (after unsubscribe or reconnect)."""
        self._last.pop(sid, None)

    def reset(self) -> None:
        """Forget every subscription."""
        self._last.clear()


class LocalOrderBook:
    """The resting bids of one market, kept current by snapshot + deltas."""

    __slots__ = ("_best_no", "_best_yes", "no", "synced", "ticker", "updated", "yes")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self.yes: dict[Decimal, Decimal] = {}
        self.no: dict[Decimal, Decimal] = {}
        self._best_yes: Decimal | None = None
        self._best_no: Decimal | None = None
        self.synced = False
        self.updated: datetime | None = None

    def apply_snapshot(
        self,
        yes: Iterable[tuple[Decimal, Decimal]],
        no: Iterable[tuple[Decimal, Decimal]],
        ts: datetime | None = None,
    ) -> None:
        """Replace the book with a snapshot (NO levels on the NO leg)."""
        self.yes = {p: q for p, q in yes if q > 0}
        self.no = {p: q for p, q in no if q > 0}
        self._best_yes = max(self.yes) if self.yes else None
        self._best_no = max(self.no) if self.no else None
        self.synced = True
        self.updated = ts

    def apply_delta(
        self, side: OutcomeSide, price: Decimal, delta: Decimal, ts: datetime | None = None
    ) -> None:
        """Add ``delta`` contracts at ``price`` (on ``side``'s leg) to the bids of ``side``.

        Raises
        ------
        BookCorruptError
            When the book is not synced or the level would go negative.
        """
        if not self.synced:
            raise BookCorruptError(f"{self.ticker}: delta before snapshot")
        levels = self.yes if side is OutcomeSide.YES else self.no
        size = levels.get(price, ZERO) + delta
        if size < 0:
            self.synced = False
            raise BookCorruptError(f"{self.ticker}: {side} {price} would hold {size}")
        if size == 0:
            levels.pop(price, None)
        else:
            levels[price] = size
        best = self._best_yes if side is OutcomeSide.YES else self._best_no
        if size > 0:
            if best is None or price > best:
                best = price
        elif price == best:
            best = max(levels) if levels else None
        if side is OutcomeSide.YES:
            self._best_yes = best
        else:
            self._best_no = best
        self.updated = ts

    def invalidate(self) -> None:
        """Mark the book unusable until the next snapshot."""
        self.synced = False

    @property
    def best_yes_bid(self) -> PriceLevel | None:
        """Highest YES bid."""
        p = self._best_yes
        return None if p is None else PriceLevel(p, self.yes[p])

    @property
    def best_no_bid(self) -> PriceLevel | None:
        """Highest NO bid (NO-leg price)."""
        p = self._best_no
        return None if p is None else PriceLevel(p, self.no[p])

    @property
    def best_yes_ask(self) -> PriceLevel | None:
        """Lowest YES ask: 1 - best NO bid."""
        p = self._best_no
        return None if p is None else PriceLevel(complement(p), self.no[p])

    def snapshot(self) -> OrderBookSnapshot:
        """An immutable copy (levels ascending, best last)."""
        return OrderBookSnapshot(
            self.ticker,
            tuple(PriceLevel(p, self.yes[p]) for p in sorted(self.yes)),
            tuple(PriceLevel(p, self.no[p]) for p in sorted(self.no)),
            self.updated,
        )
