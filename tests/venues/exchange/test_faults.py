"""Fault injection: validated rates, seeded reproducibility, HTTP faults over real HTTP."""

from __future__ import annotations

import random

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.datasets import Dataset
from milkbot.venues.exchange.faults import FaultConfig, FaultInjector

from .conftest import KEY_ID, KalshiAuth, make_state, serve


def test_rates_are_validated() -> None:
    with pytest.raises(ValueError):
        FaultConfig(http_5xx_rate=1.5)
    with pytest.raises(ValueError):
        FaultConfig(latency_ms=(5.0, 1.0))
    assert not FaultConfig().active and FaultConfig(ws_drop_rate=0.1).active


def test_same_seed_same_faults() -> None:
    config = FaultConfig(http_5xx_rate=0.3, http_429_rate=0.3, seed=5)
    first = FaultInjector(config)
    second = FaultInjector(config, random.Random(5))
    seq1 = [first.http_error() for _ in range(50)]
    seq2 = [second.http_error() for _ in range(50)]
    assert seq1 == seq2 and {503, 429, None} == set(seq1)


async def test_http_faults_and_lost_responses(
    demo_dataset: Dataset, private_key: rsa.RSAPrivateKey
) -> None:
    faults = FaultConfig(http_5xx_rate=0.2, http_429_rate=0.2, lost_response_rate=0.5, seed=2)
    state, _ = make_state(demo_dataset, private_key, faults=faults)
    async for url in serve(state):
        statuses: list[int] = []
        async with httpx.AsyncClient(
            base_url=url + "/trade-api/v2", auth=KalshiAuth(private_key)
        ) as http:
            for i in range(40):
                body = {
                    "ticker": next(iter(state.infos)),
                    "client_order_id": f"lost-{i}",
                    "side": "bid",
                    "count": "1",
                    "price": "0.01",
                    "time_in_force": "good_till_canceled",
                    "self_trade_prevention_type": "taker_at_cross",
                }
                r = await http.post("/portfolio/events/orders", json=body)
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert r.json() == {"error": "too many requests"}
        assert {201, 429, 503, 504} <= set(statuses)
        accepted = {o.client_order_id for o in state.engine.by_user.get(KEY_ID, {}).values()}
        # 503/429 never reach the engine; a 504 is a lost response for an accepted order.
        for i, status in enumerate(statuses):
            assert (f"lost-{i}" in accepted) == (status in (201, 504))
