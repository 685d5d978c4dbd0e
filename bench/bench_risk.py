"""Benchmark: risk checks per second on a 10-city book (10 events x 6 brackets).

Run: ``.venv/bin/python bench/bench_risk.py [--checks N]``. Prints the machine, the date and
the figures: single-order checks, portfolio snapshots and joint event plans per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import (
    Action,
    BracketOpportunity,
    EventOpportunity,
    OrderIntent,
    Side,
)
from milkbot.domain.ledger import EventSpec, Fill, Ledger, Mark
from milkbot.domain.stations import STATIONS
from milkbot.risk.clusters import compute_clusters
from milkbot.risk.engine import RiskEngine
from milkbot.risk.exposure import PortfolioState

NOW = datetime(2025, 3, 1, 15, tzinfo=UTC)
CLOSE = NOW + timedelta(hours=14)
FEES = FeeModel()


def build_book(rng: random.Random) -> tuple[Ledger, dict[str, Mark], list[str]]:
    """A $10,000 ledger: one 6-bracket event per city, positions in about half the markets."""
    led = Ledger(Decimal(10_000))
    marks: dict[str, Mark] = {}
    cities = [s.city for s in STATIONS][:10]
    n = 0
    for city in cities:
        event = f"KXHIGH{city}-25MAR01"
        tickers = tuple(f"{event}-B{i}" for i in range(6))
        led.register_event(EventSpec(event, city, tickers, exhaustive=True))
        for t in tickers:
            bid = Decimal(rng.randint(3, 60)) / 100
            marks[t] = Mark(bid, bid + Decimal("0.02"))
            if rng.random() < 0.5:
                side = rng.choice(list(Side))
                count = Decimal(rng.randint(1, 40))
                price = bid + Decimal("0.01") if side is Side.YES else Decimal("0.98") - bid
                n += 1
                led.apply_fill(
                    Fill(
                        f"f{n}",
                        t,
                        event,
                        side,
                        Action.BUY,
                        count,
                        price,
                        FEES.taker_fee(count, price),
                        NOW,
                        city,
                    )
                )
    return led, marks, cities


def random_intent(rng: random.Random, cities: list[str], k: int) -> OrderIntent:
    city = rng.choice(cities)
    event = f"KXHIGH{city}-25MAR01"
    return OrderIntent(
        intent_id=f"b{k}",
        market_ticker=f"{event}-B{rng.randrange(6)}",
        event_ticker=event,
        city=city,
        side=rng.choice(list(Side)),
        action=rng.choice(list(Action)),
        count=Decimal(rng.randint(1, 200)),
        limit_price=Decimal(rng.randint(2, 97)) / 100,
        fee_model=FEES,
        close_time=CLOSE,
        quote_time=NOW,
        forecast_time=NOW,
    )


def event_opportunity(rng: random.Random, city: str) -> EventOpportunity:
    event = f"KXHIGH{city}-25MAR01"
    weights = [rng.random() + 0.1 for _ in range(6)]
    total = sum(weights)
    brackets = []
    for i, w in enumerate(weights):
        p = w / total
        ask = Decimal(max(3, min(97, round(p * 100) + rng.randint(-8, 3)))) / 100
        brackets.append(
            BracketOpportunity(
                f"{event}-B{i}",
                event,
                city,
                i,
                p,
                0.03,
                ask - Decimal("0.02"),
                ask,
                Decimal(300),
                Decimal(300),
                FEES,
                CLOSE,
                NOW,
                NOW,
            )
        )
    return EventOpportunity(event, city, tuple(brackets), exhaustive=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--plans", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(42)
    led, marks, cities = build_book(rng)
    errors = {
        c: {NOW.date() - timedelta(days=d): rng.gauss(0, 2) for d in range(1, 91)} for c in cities
    }
    engine = RiskEngine.create(clusters=compute_clusters(errors, NOW))
    clock = FixedClock(NOW)
    state = PortfolioState.from_ledger(led, led.mark(marks, NOW))
    intents = [random_intent(rng, cities, k) for k in range(args.checks)]

    t0 = time.perf_counter()
    actions: dict[str, int] = {}
    for it in intents:
        d = engine.check(it, state, clock)
        actions[d.action.value] = actions.get(d.action.value, 0) + 1
    checks_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(500):
        PortfolioState.from_ledger(led, led.mark(marks, NOW))
    snap_s = time.perf_counter() - t0

    opps = [event_opportunity(rng, rng.choice(cities)) for _ in range(args.plans)]
    t0 = time.perf_counter()
    legs = 0
    for k, ev in enumerate(opps):
        _, decisions = engine.plan(ev, state, clock, lambda leg, k=k: f"p{k}-{leg.market_ticker}")
        legs += len(decisions)
    plan_s = time.perf_counter() - t0

    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.machine()} {platform.processor() or platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"book: {len(cities)} cities x 6 brackets, {len(led.positions)} open positions")
    print(
        f"risk checks: {args.checks} in {checks_s:.3f} s = {args.checks / checks_s:,.0f} checks/s"
    )
    print(f"  decisions: {actions}")
    print(f"portfolio snapshots: 500 in {snap_s:.3f} s = {500 / snap_s:,.0f} snapshots/s")
    print(
        f"event plans (joint Kelly + checks): {args.plans} in {plan_s:.3f} s = "
        f"{args.plans / plan_s:,.0f} plans/s ({legs} legs checked)"
    )


if __name__ == "__main__":
    main()
