"""The backtest loop: recorded data -> features -> ensemble -> ``decide`` -> venue -> ledger.

Every selected event is decided at a bounded grid of times before its close
(``close - first_hours``, then every ``step_hours``, strictly before the close), all events
interleaved in time order on one simulated clock and one portfolio. At each decision time:

1. the venue advances to ``t``: resting orders fill from recorded rows, markets close and
   settle; the ledger applies the new fills (once, by fill id) and settlements;
2. the event's unfilled orders from earlier decisions are cancelled (``cancel_unfilled``);
3. when at least one of its markets has a fresh book (``BookModel.max_age``) the event's
   features are built as of ``t`` and :func:`milkbot.decision.decide` runs with the ledger's
   marked portfolio, the resting orders and the risk engine, exactly as the trader calls it;
   without a fresh book no order is possible and the decision is skipped;
4. every approved order is sent to the venue.

The risk engine is :meth:`RiskEngine.create` with the configured limits, except that the
book-staleness limit is the book model's ``max_age`` (a recorded book is as old as the row
behind it) and the weather-staleness breaker only applies when the dataset has advance
forecasts. A backtest has no operator: at 00:00 America/New_York the daily-loss and
stale-data trips are reset (drawdown and error-rate trips stay latched to the end).
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from milkbot.backtest.marketdata import BookModel, MarketData
from milkbot.backtest.orders import DirectRouter, OmsRouter, Router
from milkbot.backtest.venue import MarketSpec, SimVenue, VenueStats
from milkbot.backtest.walkforward import WalkForward, fit_ensembles, refit_times
from milkbot.clock import FixedClock
from milkbot.datasets import Dataset
from milkbot.decision import decide
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import ZERO, Side
from milkbot.domain.ledger import EventSpec, Fill, Ledger, Mark
from milkbot.domain.stations import by_city
from milkbot.errors import DatasetError
from milkbot.features.event import (
    HOURLY_DELAY,
    OBSERVED_HOURLY_SOURCES,
    DatasetIndex,
    Event,
    EventFeatures,
    MarketPrice,
    build_index,
    climate_day_start,
    event_features,
    market_prices,
    price_from_prints,
)
from milkbot.oms.ids import client_order_id
from milkbot.oms.policy import ReplacePolicy, Verdict
from milkbot.risk.breakers import KALSHI_DAY_TZ, BreakerBoard, BreakerKind, Scope, Trip
from milkbot.risk.engine import RiskEngine
from milkbot.risk.exposure import PendingOrder, PortfolioState
from milkbot.risk.limits import RiskLimits
from milkbot.strategies.ensemble import EnsembleOutput
from milkbot.strategies.factory import build_ensemble
from milkbot.strategies.params import Params, load_params
from milkbot.venues.simulated import from_ns, to_ns

OPERATOR = "backtest"
DAILY_RESET = frozenset(
    {BreakerKind.DAILY_LOSS, BreakerKind.STALE_MARKET_DATA, BreakerKind.STALE_WEATHER_DATA}
)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BacktestConfig:
    """Everything that shapes a backtest besides the data (see ``docs/backtest.md``)."""

    starting_cash: Decimal = Decimal(1000)
    first_hours: float = 12.0
    step_hours: float = 6.0
    book: BookModel = field(default_factory=BookModel)
    settle_delay: timedelta = timedelta(hours=1)
    fee_model: FeeModel = field(default_factory=FeeModel)
    limits: RiskLimits = field(default_factory=RiskLimits)
    cities: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    walk_forward: WalkForward | None = None
    params_version: str | None = None
    seed: int = 0
    bootstrap_resamples: int = 2000
    strategy_run: str = "backtest"
    weather_required: bool = True
    policy: ReplacePolicy = field(default_factory=ReplacePolicy)

    def __post_init__(self) -> None:
        if self.starting_cash <= 0:
            raise ValueError("starting cash must be positive")
        if self.first_hours <= 0 or self.step_hours <= 0:
            raise ValueError("first_hours and step_hours must be positive")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"--from {self.date_from} is after --to {self.date_to}")

    def decision_hours(self) -> list[float]:
        """Hours before close of the decision grid, earliest first."""
        out = []
        h = self.first_hours
        while h > 1e-9:
            out.append(round(h, 6))
            h -= self.step_hours
        return out

    def risk_limits(self) -> RiskLimits:
        """The limits with the book-staleness limit set to the book model's ``max_age``."""
        return replace(
            self.limits, breakers=replace(self.limits.breakers, max_quote_age=self.book.max_age)
        )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What one decision saw and concluded (for calibration and the audit)."""

    t: datetime
    event_ticker: str
    city: str
    tickers: tuple[str, ...]
    model: tuple[float, ...]
    market: tuple[float | None, ...]
    outcomes: tuple[int | None, ...]
    approved: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order sent to the venue."""

    t: datetime
    intent_id: str
    client_order_id: str
    ticker: str
    event_ticker: str
    city: str
    side: str
    count: Decimal
    limit_price: Decimal
    model_probability: float | None
    strategy: str
    filled_at_once: Decimal
    rejected: str


@dataclass(slots=True)
class FillRecord:
    """One of our fills, with its settlement outcome once known."""

    fill_id: str
    ts: datetime
    ticker: str
    event_ticker: str
    city: str
    side: str
    count: Decimal
    price: Decimal
    fee: Decimal
    is_taker: bool
    strategy: str
    client_order_id: str
    result: str = ""
    pnl: Decimal = ZERO


@dataclass
class BacktestResult:
    """Everything a backtest produced."""

    config: BacktestConfig
    events: list[Event]
    skipped: dict[str, int]
    decisions: list[DecisionRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    equity: list[tuple[datetime, Decimal]] = field(default_factory=list)
    final_equity: Decimal = ZERO
    fees: Decimal = ZERO
    trips: list[dict[str, str]] = field(default_factory=list)
    venue_stats: VenueStats = field(default_factory=VenueStats)
    ensemble_source: str = ""
    router: str = "direct"
    not_decided: dict[str, int] = field(default_factory=dict)
    cancels: dict[str, int] = field(default_factory=dict)
    n_prints: int = 0
    n_quotes: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class _BacktestBoard(BreakerBoard):
    """The breaker board, with the weather-staleness breaker off for data without forecasts."""

    weather_required: bool = True

    def observe_data_age(
        self, kind: BreakerKind, scope: Scope, last_update: datetime | None, at: datetime
    ) -> Trip | None:
        """As the live board, except STALE_WEATHER_DATA when no advance forecast exists."""
        if kind is BreakerKind.STALE_WEATHER_DATA and not self.weather_required:
            return None
        return super().observe_data_age(kind, scope, last_update, at)


def attribute(output: EnsembleOutput, index: int, side: Side, price: Decimal) -> str:
    """The strategy that contributes most to an order's edge, or ``ensemble``.

    A strategy's contribution is its pooling weight times its own edge on the order,
    ``w_s * (p_s(side) - price)``; these sum to the pooled edge. The order is attributed to
    the largest positive contribution when it is at least half of all positive ones, else
    to ``ensemble`` (no single strategy carries it).
    """
    c = float(price)
    positive: dict[str, float] = {}
    for name in sorted(output.outputs):
        p = output.outputs[name].probabilities[index]
        p = p if side is Side.YES else 1.0 - p
        v = output.weights.get(name, 0.0) * (p - c)
        if v > 0:
            positive[name] = v
    if not positive:
        return "ensemble"
    best = max(positive, key=lambda n: (positive[n], n))
    return best if positive[best] >= 0.5 * sum(positive.values()) else "ensemble"


def decision_prices(
    index: DatasetIndex, data: MarketData, pairs: Sequence[tuple[str, datetime]]
) -> list[MarketPrice]:
    """:func:`market_prices` of many (ticker, time) pairs in one call.

    Prints are priced by :func:`price_from_prints` on the backtest's own arrays, as
    ``market_prices`` prices them. ``market_prices`` takes one time per ticker and only ever
    uses the last quote at or before that time, so for quotes each pair gets a key of its own
    and a reduced table holding exactly that row: the answers are those of the full table.
    """
    if not pairs:
        return []
    none = MarketPrice(None, False, None, None)
    if not index.has_quotes and index.has_trades:
        out: list[MarketPrice] = []
        for ticker, t in pairs:
            p = data.prints(ticker)
            if p is None:
                out.append(none)
                continue
            out.append(
                price_from_prints(p.ts, p.price, p.count, p.taker_yes, p.taker_known, to_ns(t))
            )
        return out
    keys = [f"#{j}" for j in range(len(pairs))]
    times = [t for _, t in pairs]
    ds = index.dataset
    quotes: pd.DataFrame | None = None
    if index.has_quotes:
        rows: dict[str, list[object]] = {"ticker": [], "ts": [], "yes_bid": [], "yes_ask": []}
        for key, (ticker, t) in zip(keys, pairs, strict=True):
            q = data.quotes(ticker)
            if q is None:
                continue
            i = int(np.searchsorted(q.ts, to_ns(t), side="right")) - 1
            if i >= 0:
                rows["ticker"].append(key)
                rows["ts"].append(int(q.ts[i]))
                rows["yes_bid"].append(float(q.bid[i]))
                rows["yes_ask"].append(float(q.ask[i]))
        if not rows["ticker"]:  # keep the dataset's kind: a row no pair asks for
            rows = {"ticker": ["#none"], "ts": [0], "yes_bid": [np.nan], "yes_ask": [np.nan]}
        quotes = pd.DataFrame(rows)
        quotes["ts"] = pd.to_datetime(quotes["ts"], unit="ns", utc=True)
    slim = DatasetIndex(
        Dataset(
            sources=ds.sources,
            markets=None,
            trades=None,
            quotes=quotes,
            forecasts=None,
            observations=None,
            hourly=None,
        )
    )
    prices = market_prices(slim, keys, times)
    return [prices.get(k, none) for k in keys]


def _fresh(data: MarketData, tickers: Sequence[str], times_ns: np.ndarray) -> np.ndarray:
    """Whether any of ``tickers`` has a fresh book at each time (as :meth:`MarketData.book`)."""
    limit = int(data.model.max_age.total_seconds() * 1e9)
    out = np.zeros(len(times_ns), dtype=bool)
    for ticker in tickers:
        q_fresh = np.zeros(len(times_ns), dtype=bool)
        q_side = np.zeros(len(times_ns), dtype=bool)
        q = data.quotes(ticker)
        if q is not None:
            i = np.searchsorted(q.ts, times_ns, side="right") - 1
            ok = i >= 0
            j = np.where(ok, i, 0)
            q_fresh = ok & (times_ns - q.ts[j] <= limit)
            q_side = ~np.isnan(q.bid[j]) | ~np.isnan(q.ask[j])
        p_fresh = np.zeros(len(times_ns), dtype=bool)
        p = data.prints(ticker)
        if p is not None:
            i = np.searchsorted(p.ts, times_ns, side="right") - 1
            ok = i >= 0
            j = np.where(ok, i, 0)
            p_fresh = ok & (times_ns - p.ts[j] <= limit)
        out |= np.where(q_fresh, q_side, p_fresh)
    return out


def select_events(
    index: DatasetIndex, config: BacktestConfig
) -> tuple[list[Event], dict[str, int]]:
    """The events to replay, and how many were left out and why."""
    ds = index.dataset
    if ds.markets is None or ds.markets.empty:
        raise DatasetError("the backtest needs a markets file (markets.csv) to trade")
    if not index.has_trades and not index.has_quotes:
        raise DatasetError(
            "the dataset has neither trades nor quotes: there is no market to trade against"
        )
    events = [e for e in index.events if not e.synthetic]
    if not events:
        raise DatasetError("no event in the markets file has a known station and brackets")
    skipped: dict[str, int] = {}
    if config.cities:
        wanted = {by_city(c).city for c in config.cities}
        present = {e.city for e in events}
        missing = sorted(wanted - present)
        if missing:
            raise DatasetError(
                f"no events for {', '.join(missing)} in the dataset "
                f"(it has {', '.join(sorted(present))})"
            )
        skipped["other city"] = sum(e.city not in wanted for e in events)
        events = [e for e in events if e.city in wanted]
    lo, hi = config.date_from, config.date_to
    if config.walk_forward is not None and lo is None:
        lo = min(e.event_date for e in events) + timedelta(days=config.walk_forward.min_fit_days)
    inside = [
        e
        for e in events
        if (lo is None or e.event_date >= lo) and (hi is None or e.event_date <= hi)
    ]
    skipped["outside the dates"] = len(events) - len(inside)
    if not inside:
        first = min(e.event_date for e in events)
        last = max(e.event_date for e in events)
        raise DatasetError(
            f"no events between {lo or 'the start'} and {hi or 'the end'} "
            f"(the dataset has {first} .. {last})"
        )
    labelled = [e for e in inside if e.labelled]
    skipped["without a result"] = len(inside) - len(labelled)
    if not labelled:
        raise DatasetError("no event in the window has a result for every market")
    labelled.sort(key=lambda e: (e.close_time, e.event_ticker))
    return labelled, {k: v for k, v in skipped.items() if v}


def archive_settled(ledger: Ledger, event_ticker: str) -> bool:
    """Fold a settled event out of the ledger's indexes of open events; False if still open.

    :meth:`PortfolioState.from_ledger` and :meth:`Ledger.pnl_by_city` are linear in every
    market the ledger has ever linked, which a months-long replay makes quadratic. Once none
    of the event's markets holds a position, its markets are unlinked and their realized P&L
    is kept per city under one ``<settled:CITY>`` key, so cash, realized P&L and P&L by city
    are unchanged.
    """
    tickers = [t for t, e in ledger.market_event.items() if e == event_ticker]
    if any(t in ledger.positions for t in tickers):
        return False
    ledger.events.pop(event_ticker, None)
    for t in tickers:
        del ledger.market_event[t]
        city = ledger.market_city.pop(t, "")
        amount = ledger.realized_by_market.pop(t, ZERO)
        if city:
            key = f"<settled:{city}>"
            ledger.market_city[key] = city
            ledger.realized_by_market[key] = ledger.realized_by_market.get(key, ZERO) + amount
    return True


def hourly_times(dataset: Dataset) -> dict[str, np.ndarray]:
    """Per station, the sorted times (ns) of its hourly readings (as the features index)."""
    h = dataset.hourly
    out: dict[str, np.ndarray] = {}
    if h is None or h.empty:
        return out
    sub = h[h["temp_f"].notna()]
    for station, g in sub.groupby("station", sort=True):
        observed = g[g["source"].isin(OBSERVED_HOURLY_SOURCES)]
        rows = observed if not observed.empty else g
        out[str(station)] = np.sort(
            np.asarray(pd.DatetimeIndex(rows["ts"]).as_unit("ns").asi8, dtype=np.int64)
        )
    return out


def weather_time(
    event: Event, t: datetime, hourly: Mapping[str, np.ndarray], features: EventFeatures
) -> datetime | None:
    """When the newest weather input behind a decision at ``t`` was observed, as the trader
    measures it: the latest hourly reading of the climate day known at ``t`` (a reading
    stamped ``ts`` is known from ``ts + HOURLY_DELAY``) or the newest usable forecast."""
    best: datetime | None = None
    ts = hourly.get(event.station)
    if ts is not None:
        start = climate_day_start(event.event_date, event.std_offset_hours)
        known = min(t - HOURLY_DELAY, start + timedelta(hours=24) - timedelta(seconds=1))
        hi = int(np.searchsorted(ts, to_ns(known), side="right"))
        if hi > 0 and ts[hi - 1] >= to_ns(start):
            best = from_ns(int(ts[hi - 1]))
    latest = features.latest_forecast()
    if latest is not None and (best is None or latest.issued_at > best):
        best = latest.issued_at
    return best


_REVIEW, _DECIDE = 0, 1


async def run_backtest(
    dataset: Dataset,
    config: BacktestConfig,
    *,
    progress: Progress | None = None,
    index: DatasetIndex | None = None,
    oms_dir: Path | None = None,
) -> BacktestResult:
    """Replay ``dataset`` through the trader's decision code; see the module docstring.

    With ``oms_dir`` orders go through the OMS's order manager on a SQLite database created
    there; otherwise through the in-memory :class:`DirectRouter`.
    """
    stamp = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal stamp
        now = time.perf_counter()
        timings[name] = round(now - stamp, 3)
        stamp = now

    idx = index if index is not None else build_index(dataset)
    events, skipped = select_events(idx, config)
    lap("index")
    data = MarketData(dataset, [t for e in events for t in e.tickers], config.book)
    hourly = hourly_times(dataset)
    lap("market data")

    hours = config.decision_hours()
    grid = [(e.close_time - timedelta(hours=h), i) for i, e in enumerate(events) for h in hours]
    grid.sort(key=lambda x: (x[0], events[x[1]].event_ticker))
    fresh = np.zeros(len(grid), dtype=bool)
    by_event: dict[int, list[int]] = {}
    for n, (_, i) in enumerate(grid):
        by_event.setdefault(i, []).append(n)
    for i, slots in by_event.items():
        times = np.array([to_ns(grid[n][0]) for n in slots], dtype=np.int64)
        fresh[slots] = _fresh(data, events[i].tickers, times)
    live = [int(n) for n in np.flatnonzero(fresh)]
    pairs = [(tk, grid[n][0]) for n in live for tk in events[grid[n][1]].tickers]
    flat = decision_prices(idx, data, pairs)
    prices: dict[int, dict[str, MarketPrice]] = {}
    k = 0
    for n in live:
        tks = events[grid[n][1]].tickers
        prices[n] = dict(zip(tks, flat[k : k + len(tks)], strict=True))
        k += len(tks)
    lap("decision grid")

    params: Params = load_params(config.params_version)
    first, last = grid[0][0], grid[-1][0]
    if config.walk_forward is not None:
        fits = fit_ensembles(
            dataset,
            idx,
            refit_times(first, last, config.walk_forward.refit_days),
            config.walk_forward,
            params,
            progress=None if progress is None else (lambda d, n: progress("fit", d, n)),
        )
        source = (
            f"walk-forward: refit every {config.walk_forward.refit_days} days on the labels "
            f"known then ({len(fits)} fits; climatology normals of parameters {params.version})"
        )
    else:
        fits = [(first, build_ensemble(params))]
        source = (
            f"packaged parameters {params.version}, fitted on {', '.join(params.datasets)} "
            "(in-sample wherever the replayed data is among them)"
        )
    fit_times = [t for t, _ in fits]
    lap("ensemble")

    clock = FixedClock(first - timedelta(seconds=1))
    specs: dict[str, MarketSpec] = {}
    info: dict[str, tuple[str, str]] = {}
    for e in events:
        for tk, won in zip(e.tickers, e.outcomes, strict=True):
            specs[tk] = MarketSpec(
                tk, e.event_ticker, tk.split("-", 1)[0], e.close_time, "yes" if won else "no"
            )
            info[tk] = (e.event_ticker, e.city)
    venue = SimVenue(
        data,
        specs,
        clock,
        config.starting_cash,
        config.fee_model,
        config.settle_delay,
        config.seed,
    )
    router: Router = (
        await OmsRouter.create(venue, clock, oms_dir)
        if oms_dir is not None
        else DirectRouter(venue, clock)
    )
    limits = config.risk_limits()
    board = _BacktestBoard(limits.breakers)
    board.weather_required = config.weather_required
    risk = RiskEngine(limits, board)
    policy = config.policy
    ledger = Ledger(config.starting_cash)
    result = BacktestResult(
        config,
        events,
        skipped,
        ensemble_source=source,
        n_prints=data.n_prints,
        n_quotes=data.n_quotes,
        router="oms" if oms_dir is not None else "direct",
    )
    strategy_of: dict[str, str] = {}
    registered: set[str] = set()
    archive_due: list[tuple[datetime, str]] = []
    settle_cursor: list[datetime | None] = [None]

    async def sync() -> None:
        for f in await router.new_fills():
            event, city = info[f.ticker]
            fill = Fill(
                f.fill_id, f.ticker, event, f.side, f.action, f.count, f.price, f.fee, f.ts, city
            )
            if ledger.apply_fill(fill):
                cid = f.client_order_id or ""
                result.fills.append(
                    FillRecord(
                        f.fill_id,
                        f.ts,
                        f.ticker,
                        event,
                        city,
                        f.side.value,
                        f.count,
                        f.price,
                        f.fee,
                        f.is_taker,
                        strategy_of.get(cid, "ensemble"),
                        cid,
                    )
                )
        for s in await venue.get_settlements(min_ts=settle_cursor[0]):
            if s.ticker not in ledger.settled:
                ledger.settle(s.ticker, Side(s.market_result))
                await router.settle(s)
            settle_cursor[0] = s.settled_time

    heap: list[tuple[datetime, int, int, str]] = [
        (t, _DECIDE, n, "") for n, (t, _) in enumerate(grid)
    ]
    heapq.heapify(heap)
    seq = len(grid)
    day: date | None = None
    done = 0
    try:
        while heap:
            t, kind, n, coid = heapq.heappop(heap)
            venue.advance_to(t)
            await sync()
            while archive_due and archive_due[0][0] <= t:
                _, gone = heapq.heappop(archive_due)
                if not archive_settled(ledger, gone):
                    heapq.heappush(archive_due, (t + config.settle_delay, gone))
            today = t.astimezone(KALSHI_DAY_TZ).date()
            if today != day:
                day = today
                for trip in board.all_trips():
                    if trip.kind in DAILY_RESET:
                        board.reset(trip.scope, OPERATOR, "new trading day", t, trip.kind)
            if kind == _REVIEW:
                for o in router.open_orders():
                    if o.client_order_id != coid or o.state.in_flight:
                        continue
                    verdict, why = policy.review(
                        o,
                        now=t,
                        close_time=specs[o.market_ticker].close_time,
                        fair_limit=o.limit_price,
                    )
                    if verdict is Verdict.CANCEL:
                        await router.cancel(o, why)
                        result.cancels[why] = result.cancels.get(why, 0) + 1
                await sync()
                continue
            done += 1
            if progress is not None and (done % 250 == 0 or done == len(grid)):
                progress("replay", done, len(grid))
            event = events[grid[n][1]]
            marks: dict[str, Mark] = {}
            for tk in ledger.positions:
                m = data.mark(tk, t)
                if m is not None:
                    marks[tk] = m
            point = ledger.mark(marks, t)
            result.equity.append((t, point.equity))
            if not fresh[n]:
                result.not_decided["no fresh book"] = result.not_decided.get("no fresh book", 0) + 1
                continue
            features = event_features(idx, event, t, prices[n])
            seen = weather_time(event, t, hourly, features)
            if config.weather_required and (
                seen is None or t - seen > limits.breakers.max_forecast_age
            ):
                result.not_decided["no fresh weather"] = (
                    result.not_decided.get("no fresh weather", 0) + 1
                )
                continue
            board.observe_equity(point)
            board.observe_city_pnl(ledger.pnl_by_city(marks), t, risk.cluster_of)
            books = {tk: b for tk in event.tickers if (b := data.book(tk, t)) is not None}
            open_orders = router.open_orders()
            pending = tuple(
                PendingOrder(
                    o.market_ticker,
                    info[o.market_ticker][0],
                    info[o.market_ticker][1],
                    o.yes_delta,
                    o.limit_price if o.side is Side.YES else 1 - o.limit_price,
                    config.fee_model.taker_fee(o.remaining, o.limit_price),
                )
                for o in open_orders
                if o.remaining > 0
            )
            holdings: dict[str, Decimal] = {tk: p.contracts for tk, p in ledger.positions.items()}
            for o in open_orders:
                holdings[o.market_ticker] = holdings.get(o.market_ticker, ZERO) + o.yes_delta
            portfolio = PortfolioState.from_ledger(ledger, point, pending)
            ensemble = fits[max(0, bisect.bisect_right(fit_times, t) - 1)][1]
            decision = decide(
                features,
                ensemble,
                books,
                config.fee_model,
                risk,
                portfolio,
                clock,
                strategy_run=config.strategy_run,
                holdings=holdings,
                pending=pending,
                weather_time=seen if config.weather_required else None,
            )
            if decision is None:
                result.not_decided["no strategy input"] = (
                    result.not_decided.get("no strategy input", 0) + 1
                )
                continue
            result.decisions.append(
                DecisionRecord(
                    t,
                    event.event_ticker,
                    event.city,
                    event.tickers,
                    decision.output.probabilities,
                    tuple(m.prob for m in features.market) if features.market else (),
                    event.outcomes,
                    len(decision.approved),
                )
            )
            fair = {
                (leg.market_ticker, leg.side.value): leg.limit_price for leg in decision.sizing.legs
            }
            tickers = set(event.tickers)
            for o in router.open_orders():
                if o.market_ticker not in tickers or o.state.in_flight:
                    continue
                verdict, why = policy.review(
                    o,
                    now=t,
                    close_time=event.close_time,
                    fair_limit=fair.get((o.market_ticker, o.side.value)),
                )
                if verdict is Verdict.CANCEL:
                    await router.cancel(o, why)
                    result.cancels[why] = result.cancels.get(why, 0) + 1
            position = {tk: j for j, tk in enumerate(event.tickers)}
            for approved in decision.approved:
                intent = approved.intent
                strategy = attribute(
                    decision.output, position[intent.market_ticker], intent.side, intent.limit_price
                )
                if event.event_ticker not in registered:
                    registered.add(event.event_ticker)
                    ledger.register_event(
                        EventSpec(
                            event.event_ticker, event.city, event.tickers, features.is_partition
                        )
                    )
                    heapq.heappush(
                        archive_due,
                        (event.close_time + 2 * config.settle_delay, event.event_ticker),
                    )
                coid = client_order_id(intent.intent_id)
                strategy_of[coid] = strategy
                sent = await router.submit(approved, slot=decision.slot, reason=strategy)
                if sent.rejected not in ("duplicate_intent", "market_in_flight"):
                    board.record_order_result(True, t)
                result.orders.append(
                    OrderRecord(
                        t,
                        intent.intent_id,
                        coid,
                        intent.market_ticker,
                        event.event_ticker,
                        event.city,
                        intent.side.value,
                        intent.count,
                        intent.limit_price,
                        intent.model_probability,
                        strategy,
                        sent.filled,
                        sent.rejected,
                    )
                )
                if not sent.rejected and sent.filled < intent.count:
                    due = min(
                        t + policy.time_to_live, event.close_time - policy.cancel_before_close
                    )
                    seq += 1
                    heapq.heappush(heap, (max(due, t), _REVIEW, seq, coid))
            await sync()
        lap("replay")
        venue.finish()
        await sync()
    finally:
        await router.close()
    end = clock.now()
    final = ledger.mark({}, end)
    result.equity.append((end, final.equity))
    result.final_equity = final.equity
    result.fees = ledger.fees_paid
    outcome = {tk: s.result for tk, s in specs.items()}
    for f in result.fills:
        f.result = outcome[f.ticker]
        win = Decimal(1) if f.side == f.result else ZERO
        f.pnl = f.count * (win - f.price) - f.fee
    result.trips = [c.to_record() for c in board.log]
    result.venue_stats = venue.stats
    lap("settle")
    result.timings = timings
    return result
