"""A snapshot of the book for risk checks: positions, resting orders and worst-case losses.

Worst-case loss is measured per market, per event (over which bracket wins), per city (sum
of its events), per cluster (sum of its cities) and in total (sum of all events). Resting
orders that would add exposure count as if filled at their limit price with the taker fee;
resting orders that would reduce exposure are ignored (they may never fill).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from milkbot.domain.intents import ZERO, OrderIntent
from milkbot.domain.ledger import (
    EquityPoint,
    Ledger,
    Position,
    apply_trade,
    event_worst_case_loss,
)


@dataclass(frozen=True, slots=True)
class EventInfo:
    """An event's markets, whether they are exhaustive, and its city."""

    market_tickers: tuple[str, ...]
    exhaustive: bool
    city: str


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """A resting order's remaining size, as the risk engine counts it."""

    market_ticker: str
    event_ticker: str
    city: str
    yes_delta: Decimal
    yes_price: Decimal
    fee: Decimal

    @classmethod
    def from_intent(cls, intent: OrderIntent, count: Decimal | None = None) -> PendingOrder:
        """The exposure of an approved intent (optionally at a resized count)."""
        n = intent.count if count is None else count
        fee = intent.fee_model.taker_fee(n, intent.limit_price) if n > 0 else ZERO
        delta = n if intent.yes_delta > 0 else -n
        return cls(
            intent.market_ticker, intent.event_ticker, intent.city, delta, intent.yes_price, fee
        )


def _opens(position: Position, delta: Decimal) -> bool:
    return position.contracts == 0 or (position.contracts > 0) == (delta > 0)


@dataclass
class PortfolioState:
    """Positions (with opening resting orders applied), events, equity, and worst cases."""

    positions: dict[str, Position]
    events: dict[str, EventInfo]
    market_event: dict[str, str]
    equity: Decimal
    high_water_mark: Decimal
    event_wc: dict[str, Decimal] = field(init=False)
    city_wc: dict[str, Decimal] = field(init=False)
    total_wc: Decimal = field(init=False)
    actual: dict[str, Position] | None = None

    def __post_init__(self) -> None:
        if self.actual is None:
            self.actual = dict(self.positions)
        self.event_wc = {
            e: event_worst_case_loss(
                self.positions, info.market_tickers, exhaustive=info.exhaustive
            )
            for e, info in self.events.items()
        }
        self.city_wc = {}
        for e, wc in self.event_wc.items():
            city = self.events[e].city
            self.city_wc[city] = self.city_wc.get(city, ZERO) + wc
        self.total_wc = sum(self.event_wc.values(), ZERO)

    @classmethod
    def build(
        cls,
        positions: Mapping[str, Position],
        events: Mapping[str, EventInfo],
        market_event: Mapping[str, str],
        *,
        equity: Decimal,
        high_water_mark: Decimal,
        pending: Iterable[PendingOrder] = (),
    ) -> PortfolioState:
        """Build a snapshot, applying resting orders that open exposure."""
        pos = dict(positions)
        evs = dict(events)
        m2e = dict(market_event)
        for p in pending:
            current = pos.get(p.market_ticker, Position())
            if not _opens(current, p.yes_delta):
                continue
            pos[p.market_ticker] = apply_trade(current, p.yes_delta, p.yes_price, p.fee).position
            m2e.setdefault(p.market_ticker, p.event_ticker)
            info = evs.get(p.event_ticker)
            if info is None:
                evs[p.event_ticker] = EventInfo((p.market_ticker,), False, p.city)
            elif p.market_ticker not in info.market_tickers:
                evs[p.event_ticker] = EventInfo(
                    (*info.market_tickers, p.market_ticker), False, info.city
                )
        return cls(pos, evs, m2e, equity, high_water_mark, actual=dict(positions))

    @classmethod
    def from_ledger(
        cls,
        ledger: Ledger,
        point: EquityPoint,
        pending: Iterable[PendingOrder] = (),
    ) -> PortfolioState:
        """Snapshot a ledger (with a marked equity point) and its resting orders."""
        events: dict[str, EventInfo] = {}
        for e in set(ledger.market_event.values()):
            tickers, exhaustive = ledger.event_markets(e)
            city = ledger.events[e].city if e in ledger.events else ""
            if not city:
                city = next((ledger.market_city[t] for t in tickers if t in ledger.market_city), "")
            events[e] = EventInfo(tuple(tickers), exhaustive, city)
        return cls.build(
            ledger.positions,
            events,
            ledger.market_event,
            equity=point.equity,
            high_water_mark=point.high_water_mark,
            pending=pending,
        )

    def position(self, market_ticker: str) -> Position:
        """The position with opening resting orders applied (flat if none)."""
        return self.positions.get(market_ticker, Position())

    def actual_position(self, market_ticker: str) -> Position:
        """The filled position, without resting orders."""
        assert self.actual is not None
        return self.actual.get(market_ticker, Position())

    def event_info(self, event_ticker: str, market_ticker: str, city: str) -> EventInfo:
        """The event's info, including ``market_ticker`` (non-exhaustive if it was unknown)."""
        info = self.events.get(event_ticker)
        if info is None:
            return EventInfo((market_ticker,), False, city)
        if market_ticker not in info.market_tickers:
            return EventInfo((*info.market_tickers, market_ticker), False, info.city or city)
        return info

    def cities(self) -> tuple[str, ...]:
        """Cities with open exposure."""
        return tuple(c for c, wc in self.city_wc.items() if wc > 0)
