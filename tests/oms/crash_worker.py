"""A trading process for the crash test: the trader's OMS path, until it is killed.

It starts like the trader (load the open orders, reconcile until a pass succeeds, only then
trade) and then, in a loop, decides orders from a seeded generator keyed by a tenth-of-a-second
decision slot (a restart inside the same slot re-decides the same intents), submits them
through the real :class:`OrderManager`, cancels some, and syncs fills. The crash test kills
it with SIGKILL at random points.

Run: ``python -m tests.oms.crash_worker URL DB KEY_PEM SEED``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import OrderIntent, Side
from milkbot.domain.portfolio import Action
from milkbot.errors import MilkbotError
from milkbot.oms.ids import intent_id
from milkbot.oms.manager import OrderManager
from milkbot.oms.reconcile import Reconciler
from milkbot.risk.engine import RiskEngine
from milkbot.risk.exposure import PortfolioState
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.venues.kalshi.auth import KalshiAuth, load_private_key
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.ratelimit import RateLimits

KEY_ID = "crash-test"
SIM_NOW = datetime(2025, 4, 6, 18, 0, tzinfo=UTC)
SLOT_SECONDS = 0.1


async def main(url: str, data_dir: Path, key: Path, seed: int) -> None:
    """Reconcile, then trade until killed."""
    clock = FixedClock(SIM_NOW)
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    client = KalshiClient(
        f"{url}/trade-api/v2",
        auth=KalshiAuth(KEY_ID, load_private_key(key)),
        backoff_base=0.001,
        max_retries=6,
        rate_limits=RateLimits(read_per_second=1e5, write_per_second=1e5),
    )
    manager = OrderManager(client, sessions, clock)
    reconciler = Reconciler(manager, client, sessions, clock)
    for _ in range(1000):
        if (await reconciler.run()).ok:
            break
    else:
        raise SystemExit("reconciliation never passed")
    markets = [
        m
        for m in await client.get_markets(status="open")
        if m.yes_bid is not None and m.yes_ask is not None and m.close_time is not None
    ]
    risk = RiskEngine.create()
    portfolio = PortfolioState.build(
        {}, {}, {}, equity=Decimal(1000), high_water_mark=Decimal(1000)
    )
    print("ready", flush=True)
    while True:
        slot = str(int(time.time() / SLOT_SECONDS))
        rng = random.Random(f"{seed}-{slot}")
        m = rng.choice(markets)
        side = rng.choice([Side.YES, Side.NO])
        assert m.yes_bid is not None and m.yes_ask is not None and m.close_time is not None
        ask = m.yes_ask if side is Side.YES else 1 - m.yes_bid
        price = min(Decimal("0.99"), max(Decimal("0.01"), ask + Decimal(rng.randint(-3, 1)) / 100))
        intent = OrderIntent(
            intent_id=intent_id(f"crash-{seed}", m.ticker, side, Action.BUY, slot),
            market_ticker=m.ticker,
            event_ticker=m.event_ticker,
            city="NYC",
            side=side,
            action=Action.BUY,
            count=Decimal(rng.randint(1, 4)),
            limit_price=price,
            fee_model=FeeModel(),
            close_time=m.close_time,
            quote_time=clock.now(),
            forecast_time=clock.now(),
        )
        try:
            approved = risk.approve(intent, portfolio, clock)
            await manager.submit(
                approved, strategy_run="crash", slot=slot, reason="crash", audit={}
            )
            if manager.open_orders and rng.random() < 0.3:
                victim = rng.choice(
                    [o for o in manager.open_orders if not o.state.in_flight] or [None]
                )
                if victim is not None:
                    await manager.cancel(victim.client_order_id, "crash-test")
            await manager.sync_fills(since=SIM_NOW - timedelta(hours=1))
            await manager.resolve_in_flight()
        except MilkbotError as e:
            print("error", type(e).__name__, e, flush=True)
        await asyncio.sleep(0.01)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])))
