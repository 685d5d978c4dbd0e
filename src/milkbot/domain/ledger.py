"""The P&L ledger: fills, positions, cash, fees, settlement, marks, equity and worst-case loss.

Pure and Decimal-only; the OMS, the backtest and the risk engine share it.

A position is a signed number of YES contracts (Kalshi ``position_fp``: + is YES, - is NO)
with a cost basis: the dollars paid for the contracts still held, opening fees included.
Cash follows Kalshi: buying YES at ``y`` pays ``y`` per contract, buying NO pays the NO price
``1 - y``; closing a long YES receives ``y``, closing a long NO receives ``1 - y``. Every fee
leaves cash when the fill happens. A winning contract pays $1 at settlement.

Realized P&L counts closed and settled contracts (proceeds minus cost basis) and the fees of
closing trades; opening fees sit in the cost basis until the contracts close or settle, so
``equity - starting_cash == realized + unrealized`` at all times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from milkbot.domain.intents import ONE, ZERO, Action, Side, yes_delta, yes_price_of
from milkbot.errors import DataError

OTHER = "<other>"
"""The outcome 'none of the known brackets wins' of a non-exhaustive event."""


@dataclass(frozen=True, slots=True)
class Position:
    """A signed YES position and the cost basis of the contracts held (fees included)."""

    contracts: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        """Return whether no contracts are held."""
        return self.contracts == 0

    def payout(self, yes_wins: bool) -> Decimal:
        """Dollars the position pays at settlement."""
        if self.contracts > 0:
            return self.contracts if yes_wins else ZERO
        return -self.contracts if not yes_wins else ZERO

    def worst_case_loss(self) -> Decimal:
        """Cost basis minus the smaller of the two settlement payouts (never negative)."""
        return max(ZERO, self.cost - min(self.payout(True), self.payout(False)))

    def mark_value(self, mark: Mark | None) -> Decimal:
        """Liquidation value at the executable side of ``mark``; at cost without a mark."""
        if self.contracts == 0:
            return ZERO
        if self.contracts > 0:
            if mark is None or mark.yes_bid is None:
                return self.cost if mark is None else ZERO
            return self.contracts * mark.yes_bid
        if mark is None or mark.yes_ask is None:
            return self.cost if mark is None else ZERO
        return -self.contracts * (ONE - mark.yes_ask)


@dataclass(frozen=True, slots=True)
class TradeResult:
    """The effect of one trade on a position."""

    position: Position
    cash_delta: Decimal
    realized: Decimal


def apply_trade(
    position: Position, delta: Decimal, yes_price: Decimal, fee: Decimal
) -> TradeResult:
    """Apply a trade of signed YES ``delta`` at ``yes_price`` with ``fee`` to a position.

    The part of the trade that closes contracts realizes proceeds minus their average cost;
    the part that opens contracts adds its price to the cost basis. The fee is split between
    the two parts in proportion to the contracts.
    """
    if delta == 0:
        return TradeResult(position, -fee, -fee)
    q = position.contracts
    closing = ZERO
    if q != 0 and (q > 0) != (delta > 0):
        closing = min(abs(delta), abs(q))
    opening = abs(delta) - closing
    close_fee = fee * closing / abs(delta) if closing else ZERO
    open_fee = fee - close_fee

    cash = -fee
    realized = -close_fee
    cost = position.cost
    new_q = q
    if closing:
        unit = yes_price if q > 0 else ONE - yes_price
        proceeds = unit * closing
        removed = cost if closing == abs(q) else cost * closing / abs(q)
        cash += proceeds
        realized += proceeds - removed
        cost -= removed
        new_q = q + (closing if q < 0 else -closing)
    if opening:
        unit = yes_price if delta > 0 else ONE - yes_price
        cash -= unit * opening
        cost += unit * opening + open_fee
        new_q += opening if delta > 0 else -opening
    if new_q == 0:
        cost = ZERO
    return TradeResult(Position(new_q, cost), cash, realized)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of our order, as the venue reports it.

    ``price`` is the price of ``side`` in dollars; ``fee`` is the fee charged in dollars.
    ``fill_id`` is the venue's unique fill id.
    """

    fill_id: str
    market_ticker: str
    event_ticker: str
    side: Side
    action: Action
    count: Decimal
    price: Decimal
    fee: Decimal
    ts: datetime
    city: str = ""

    @property
    def yes_delta(self) -> Decimal:
        """Signed change of the YES position."""
        return yes_delta(self.side, self.action, self.count)

    @property
    def yes_price(self) -> Decimal:
        """The fill price as a YES price."""
        return yes_price_of(self.side, self.price)


@dataclass(frozen=True, slots=True)
class Mark:
    """Top of the book used to mark a position: long YES at the bid, long NO at 1 - ask."""

    yes_bid: Decimal | None
    yes_ask: Decimal | None


@dataclass(frozen=True, slots=True)
class EventSpec:
    """The bracket markets of one event and whether they partition the outcomes."""

    event_ticker: str
    city: str
    market_tickers: tuple[str, ...]
    exhaustive: bool = True


def event_worst_case_loss(
    positions: Mapping[str, Position], market_tickers: Iterable[str], *, exhaustive: bool
) -> Decimal:
    """Worst-case loss of an event's positions over which bracket wins.

    Exactly one of ``market_tickers`` wins when ``exhaustive``; otherwise the outcome
    "none of them" is also considered. The loss in an outcome is the total cost basis minus
    the payout in that outcome; the result is the largest such loss, never negative.
    """
    tickers = list(market_tickers)
    held = [(t, positions[t]) for t in tickers if t in positions and not positions[t].is_flat]
    if not held:
        return ZERO
    total_cost = sum((p.cost for _, p in held), ZERO)
    # Every NO holder is paid unless its own bracket wins.
    no_all = sum((-p.contracts for _, p in held if p.contracts < 0), ZERO)
    outcomes: list[str] = list(tickers)
    if not exhaustive:
        outcomes.append(OTHER)
    worst = ZERO
    for winner in outcomes:
        pos = positions.get(winner)
        payout = no_all
        if pos is not None:
            if pos.contracts > 0:
                payout += pos.contracts
            elif pos.contracts < 0:
                payout += pos.contracts  # its NO contracts lose
        worst = max(worst, total_cost - payout)
    return worst


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """Equity, the high-water mark and the drawdown at one time."""

    ts: datetime
    equity: Decimal
    high_water_mark: Decimal
    realized: Decimal
    unrealized: Decimal

    @property
    def drawdown(self) -> Decimal:
        """Fractional drawdown from the high-water mark (0 at or above it)."""
        if self.high_water_mark <= 0:
            return ZERO
        return max(ZERO, (self.high_water_mark - self.equity) / self.high_water_mark)


@dataclass
class Ledger:
    """Positions, cash and P&L of one account, driven by fills and settlements."""

    starting_cash: Decimal
    cash: Decimal = field(init=False)
    positions: dict[str, Position] = field(default_factory=dict, init=False)
    realized: Decimal = field(default=ZERO, init=False)
    fees_paid: Decimal = field(default=ZERO, init=False)
    high_water_mark: Decimal = field(init=False)
    events: dict[str, EventSpec] = field(default_factory=dict, init=False)
    market_event: dict[str, str] = field(default_factory=dict, init=False)
    market_city: dict[str, str] = field(default_factory=dict, init=False)
    settled: dict[str, Side] = field(default_factory=dict, init=False)
    realized_by_market: dict[str, Decimal] = field(default_factory=dict, init=False)
    _fill_ids: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.starting_cash < 0:
            raise DataError("negative starting cash")
        self.cash = self.starting_cash
        self.high_water_mark = self.starting_cash

    def register_event(self, spec: EventSpec) -> None:
        """Declare an event's bracket markets (enables exact event worst cases)."""
        self.events[spec.event_ticker] = spec
        for t in spec.market_tickers:
            self._link(t, spec.event_ticker, spec.city)

    def _link(self, ticker: str, event: str, city: str) -> None:
        known = self.market_event.get(ticker)
        if known is not None and known != event:
            raise DataError(f"{ticker} belongs to {known}, not {event}")
        self.market_event[ticker] = event
        if city:
            self.market_city[ticker] = city

    def has_fill(self, fill_id: str) -> bool:
        """Return whether a fill id was already applied."""
        return fill_id in self._fill_ids

    def apply_fill(self, fill: Fill) -> bool:
        """Apply a fill once; return False (and change nothing) for a fill id already seen."""
        if fill.fill_id in self._fill_ids:
            return False
        if fill.count <= 0:
            raise DataError(f"fill {fill.fill_id} has count {fill.count}")
        if not ZERO <= fill.price <= ONE or fill.fee < 0:
            raise DataError(f"fill {fill.fill_id} has price {fill.price} / fee {fill.fee}")
        if fill.market_ticker in self.settled:
            raise DataError(f"fill {fill.fill_id} on settled market {fill.market_ticker}")
        self._link(fill.market_ticker, fill.event_ticker, fill.city)
        pos = self.positions.get(fill.market_ticker, Position())
        res = apply_trade(pos, fill.yes_delta, fill.yes_price, fill.fee)
        self.positions[fill.market_ticker] = res.position
        self.cash += res.cash_delta
        self.realized += res.realized
        self._add_realized(fill.market_ticker, res.realized)
        self.fees_paid += fill.fee
        self._fill_ids.add(fill.fill_id)
        return True

    def settle(self, market_ticker: str, result: Side) -> Decimal:
        """Settle a market: pay $1 per winning contract; return the payout. Idempotent."""
        if market_ticker in self.settled:
            if self.settled[market_ticker] is not result:
                raise DataError(f"{market_ticker} already settled {self.settled[market_ticker]}")
            return ZERO
        pos = self.positions.pop(market_ticker, Position())
        payout = pos.payout(result is Side.YES)
        self.cash += payout
        self.realized += payout - pos.cost
        self._add_realized(market_ticker, payout - pos.cost)
        self.settled[market_ticker] = result
        return payout

    def _add_realized(self, market_ticker: str, amount: Decimal) -> None:
        self.realized_by_market[market_ticker] = (
            self.realized_by_market.get(market_ticker, ZERO) + amount
        )

    def pnl_by_city(self, marks: Mapping[str, Mark]) -> dict[str, Decimal]:
        """Cumulative P&L (realized plus marked) per city; markets without a city are skipped."""
        out: dict[str, Decimal] = {}
        for ticker, amount in self.realized_by_market.items():
            city = self.market_city.get(ticker)
            if city:
                out[city] = out.get(city, ZERO) + amount
        for ticker, pos in self.positions.items():
            city = self.market_city.get(ticker)
            if city:
                out[city] = out.get(city, ZERO) + pos.mark_value(marks.get(ticker)) - pos.cost
        return out

    def unrealized(self, marks: Mapping[str, Mark]) -> Decimal:
        """Marked value minus cost basis of the open positions."""
        return sum((p.mark_value(marks.get(t)) - p.cost for t, p in self.positions.items()), ZERO)

    def equity(self, marks: Mapping[str, Mark]) -> Decimal:
        """Cash plus the marked value of the open positions."""
        return self.cash + sum(
            (p.mark_value(marks.get(t)) for t, p in self.positions.items()), ZERO
        )

    def mark(self, marks: Mapping[str, Mark], ts: datetime) -> EquityPoint:
        """Mark to market, raise the high-water mark if equity is above it, return the point."""
        eq = self.equity(marks)
        self.high_water_mark = max(self.high_water_mark, eq)
        return EquityPoint(
            ts, eq, self.high_water_mark, self.realized, eq - self.cash - self._cost()
        )

    def _cost(self) -> Decimal:
        return sum((p.cost for p in self.positions.values()), ZERO)

    def event_of(self, market_ticker: str) -> str:
        """The event ticker of a market seen in a fill or a registered event."""
        try:
            return self.market_event[market_ticker]
        except KeyError:
            raise DataError(f"unknown market {market_ticker}") from None

    def event_markets(self, event_ticker: str) -> tuple[tuple[str, ...], bool]:
        """The event's market tickers and whether they are exhaustive.

        An unregistered event is known only by the markets seen in fills; it is treated as
        non-exhaustive, so the worst case also considers "none of them wins". So is a
        registered event with a filled market its spec does not list.
        """
        spec = self.events.get(event_ticker)
        linked = tuple(t for t, e in self.market_event.items() if e == event_ticker)
        if spec is None:
            return linked, False
        extra = tuple(t for t in linked if t not in spec.market_tickers)
        if extra:
            # A market the spec does not list: the spec is incomplete, so not exhaustive.
            return spec.market_tickers + extra, False
        return spec.market_tickers, spec.exhaustive

    def market_worst_case_loss(self, market_ticker: str) -> Decimal:
        """Worst-case loss of one market's position."""
        return self.positions.get(market_ticker, Position()).worst_case_loss()

    def event_worst_case_loss(self, event_ticker: str) -> Decimal:
        """Worst-case loss of an event, over which of its brackets wins."""
        tickers, exhaustive = self.event_markets(event_ticker)
        return event_worst_case_loss(self.positions, tickers, exhaustive=exhaustive)
