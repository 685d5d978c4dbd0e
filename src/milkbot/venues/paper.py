"""PaperVenue: simulated fills against Kalshi's live public books, for ``milkbot paper``.

The paper trader reads markets from Kalshi's public (unauthenticated) endpoints and sends
its orders here, to an in-process :class:`~milkbot.venues.simulated.EngineVenue`. The venue
has no network client at all, so a paper order cannot reach an exchange.

Fill model (conservative, documented in ``docs/paper.md``):

* **placing** an order matches it against the live top of book last observed for the market,
  at its displayed size (a taker fill at the live price, taker fee); the rest rests;
* a **resting** order fills, at its own price with the maker fee, only when a *new* live top
  of book crosses it (the best ask falls to or below our bid, or the best bid rises to or
  above our ask), by at most the size displayed at that crossing price; an unchanged book
  never fills twice;
* a market **closes** (resting orders cancelled) at its close time or when Kalshi stops
  trading it, and **settles** when Kalshi publishes its result.

Every mutation is appended to a journal (JSON lines, flushed and fsynced) *before* it is
applied; a new venue on the same journal replays it with the recorded times and the same
seed, so after a crash or restart the paper account is exactly what it was.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from milkbot.clock import Clock
from milkbot.decision import BookTop
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import BookSide, Market, OutcomeSide
from milkbot.domain.portfolio import Action, OrderAck, OrderRequest, TimeInForce
from milkbot.errors import DataError
from milkbot.logging import get_logger
from milkbot.venues.exchange.matching import MarketStatus, OrderRejected
from milkbot.venues.kalshi.client import KalshiRejection
from milkbot.venues.simulated import EngineVenue

log = get_logger(__name__)

SETTLED = frozenset({"settled", "finalized", "determined"})
TRADING = frozenset({"active", "open"})


class _PinnedClock:
    """The real clock, or the recorded time of the journal entry being replayed."""

    def __init__(self, clock: Clock) -> None:
        self.inner = clock
        self.pinned: datetime | None = None

    def now(self) -> datetime:
        return self.pinned if self.pinned is not None else self.inner.now()


@dataclass(frozen=True, slots=True)
class _Top:
    """A market's live top of book as last observed."""

    yes_bid: Decimal | None
    yes_bid_size: Decimal
    yes_ask: Decimal | None
    yes_ask_size: Decimal


def _top(m: Market) -> _Top:
    bid = m.yes_bid if m.yes_bid is not None and m.yes_bid > 0 else None
    ask = m.yes_ask if m.yes_ask is not None and m.yes_ask < 1 else None
    return _Top(
        bid,
        (m.yes_bid_size or Decimal(0)) if bid is not None else Decimal(0),
        ask,
        (m.yes_ask_size or Decimal(0)) if ask is not None else Decimal(0),
    )


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


class PaperVenue(EngineVenue):
    """Our paper account: live books in, simulated fills out, journaled (module docstring)."""

    def __init__(
        self,
        clock: Clock,
        journal: Path,
        *,
        starting_cash: Decimal = Decimal(1000),
        fee_model: FeeModel | None = None,
        seed: int = 0,
    ) -> None:
        self._pinned = _PinnedClock(clock)
        super().__init__(self._pinned, starting_cash, fee_model=fee_model, seed=seed)
        self._tops: dict[str, _Top] = {}
        self.journal_path = journal
        self._replay()
        journal.parent.mkdir(parents=True, exist_ok=True)
        self._journal: IO[str] = journal.open("a", encoding="utf-8")

    # ---- journal -----------------------------------------------------------------------
    def _replay(self) -> None:
        if not self.journal_path.exists():
            return
        entries = 0
        with self.journal_path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    self._pinned.pinned = datetime.fromisoformat(entry["ts"])
                except (ValueError, KeyError) as e:
                    if line.endswith("\n"):
                        raise DataError(f"{self.journal_path}:{n}: bad journal line: {e}") from e
                    break  # a torn last line: the crash came before its mutation was applied
                # A mutation the engine refused the first time is refused again.
                with contextlib.suppress(KalshiRejection, OrderRejected):
                    self._apply(entry)
                entries += 1
        self._pinned.pinned = None
        log.info("paper_journal_replayed", entries=entries, path=str(self.journal_path))

    def _record(self, op: str, **fields: Any) -> dict[str, Any]:
        entry = {"ts": self.clock.now().isoformat(), "op": op, **fields}
        self._journal.write(json.dumps(entry, default=str) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())
        return entry

    def close(self) -> None:
        """Close the journal."""
        self._journal.close()

    def _apply(self, entry: dict[str, Any]) -> Any:
        op = entry["op"]
        if op == "list":
            fees = self.fee_model
            if "fee_type" in entry:  # journals written before fees were read lack them
                fees = FeeModel.from_series(entry["fee_type"], entry["fee_multiplier"])
            self.engine.add_market(
                entry["ticker"], entry["event_ticker"], entry["series_ticker"], fees
            )
        elif op == "top":
            self._tops[entry["ticker"]] = _Top(
                _dec(entry["yes_bid"]),
                Decimal(entry["yes_bid_size"]),
                _dec(entry["yes_ask"]),
                Decimal(entry["yes_ask_size"]),
            )
        elif op == "order":
            req = OrderRequest(
                entry["ticker"],
                OutcomeSide(entry["side"]),
                Action(entry["action"]),
                Decimal(entry["price"]),
                Decimal(entry["count"]),
                entry["client_order_id"],
                time_in_force=TimeInForce(entry["time_in_force"]),
                post_only=entry["post_only"],
                reduce_only=entry["reduce_only"],
            )
            return self._place(req, self._book(entry["ticker"]))
        elif op == "cancel":
            return super()._cancel(entry["order_id"])
        elif op == "trade":
            self._trade_at(self.engine.orders[entry["order_id"]], Decimal(entry["count"]))
        elif op == "close":
            self.engine.close_market(entry["ticker"])
        elif op == "settle":
            self._settle(entry["ticker"], entry["result"])
        else:
            raise DataError(f"unknown paper journal operation {op!r}")
        return None

    def _do(self, op: str, **fields: Any) -> Any:
        """Journal a mutation, then apply it at its recorded time, as a replay will."""
        entry = self._record(op, **fields)
        self._pinned.pinned = datetime.fromisoformat(entry["ts"])
        try:
            return self._apply(entry)
        finally:
            self._pinned.pinned = None

    def _book(self, ticker: str) -> BookTop | None:
        top = self._tops.get(ticker)
        if top is None:
            return None
        return BookTop(
            top.yes_bid, top.yes_ask, top.yes_bid_size, top.yes_ask_size, self.clock.now()
        )

    # ---- live market data --------------------------------------------------------------
    def observe(
        self,
        markets: Iterable[Market],
        *,
        series_ticker: str | None = None,
        fee_model: FeeModel | None = None,
    ) -> None:
        """Take Kalshi's latest view of some markets: list, fill, close and settle.

        New markets are listed under ``series_ticker`` (default: the ticker's prefix) and
        charge ``fee_model`` (default: the venue's), the series' schedule as Kalshi publishes it.
        """
        now = self.clock.now()
        fees = fee_model or self.fee_model
        for m in markets:
            known = self.engine.markets.get(m.ticker)
            if known is None:
                self._do(
                    "list",
                    ticker=m.ticker,
                    event_ticker=m.event_ticker,
                    series_ticker=series_ticker or m.event_ticker.split("-", 1)[0],
                    fee_type=fees.fee_type.value,
                    fee_multiplier=str(fees.multiplier),
                )
                known = self.engine.markets[m.ticker]
            if known.status is MarketStatus.FINALIZED:
                continue
            trading = m.status in TRADING and (m.close_time is None or m.close_time > now)
            if trading:
                top = _top(m)
                if top != self._tops.get(m.ticker):
                    self._do(
                        "top",
                        ticker=m.ticker,
                        yes_bid=top.yes_bid,
                        yes_bid_size=top.yes_bid_size,
                        yes_ask=top.yes_ask,
                        yes_ask_size=top.yes_ask_size,
                    )
                    self._fill_crossed(m.ticker, top)
                continue
            if known.status is MarketStatus.ACTIVE:
                self._do("close", ticker=m.ticker)
            if m.status in SETTLED and m.result in ("yes", "no"):
                self._do("settle", ticker=m.ticker, result=m.result)

    def _fill_crossed(self, ticker: str, top: _Top) -> None:
        """Fill resting orders a new top of book crosses, up to the size shown there."""
        ask_left, bid_left = top.yes_ask_size, top.yes_bid_size
        # Best price first, as the outside flow would reach them.
        orders = sorted(
            self._resting_orders(ticker),
            key=lambda o: (-o.price if o.side is BookSide.BID else o.price, o.priority),
        )
        for order in orders:
            if order.remaining_count <= 0:
                continue
            if order.side is BookSide.BID and top.yes_ask is not None:
                if top.yes_ask > order.price or ask_left <= 0:
                    continue
                qty = min(order.remaining_count, ask_left)
                ask_left -= qty
            elif order.side is BookSide.ASK and top.yes_bid is not None:
                if top.yes_bid < order.price or bid_left <= 0:
                    continue
                qty = min(order.remaining_count, bid_left)
                bid_left -= qty
            else:
                continue
            self._do("trade", order_id=order.order_id, count=qty)

    # ---- ExecutionVenue ----------------------------------------------------------------
    async def create_order(self, req: OrderRequest, *, resend_unknown: bool = False) -> OrderAck:
        """Match against the last live book; rest the rest (see the module docstring).

        ``resend_unknown`` has no effect: an in-process venue never leaves an outcome unknown.
        """
        del resend_unknown
        if req.ticker not in self.engine.markets:
            raise KalshiRejection(404, "market_not_found", f"no market {req.ticker} seen yet")
        placement = self._do(
            "order",
            ticker=req.ticker,
            side=req.side.value,
            action=req.action.value,
            price=req.price,
            count=req.count,
            client_order_id=req.client_order_id,
            time_in_force=req.time_in_force.value,
            post_only=req.post_only,
            reduce_only=req.reduce_only,
        )
        return self._ack(placement, self.clock.now())

    def _cancel(self, order_id: str) -> Decimal:
        reduced: Decimal = self._do("cancel", order_id=order_id)
        return reduced
