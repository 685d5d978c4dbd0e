"""Token buckets with an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from milkbot.venues.kalshi.ratelimit import TokenBucket

from .conftest import FakeTime


def test_bucket_refills_at_its_rate_up_to_capacity(fake_time: FakeTime) -> None:
    bucket = TokenBucket(rate=100, capacity=100, clock=fake_time.clock)
    assert bucket.try_acquire(60) == 0
    assert bucket.try_acquire(60) == pytest.approx(0.2)
    fake_time.clock.advance(timedelta(seconds=0.2))
    assert bucket.try_acquire(60) == 0
    fake_time.clock.advance(timedelta(seconds=10))
    assert bucket.tokens == 100


async def test_acquire_sleeps_exactly_the_missing_time(fake_time: FakeTime) -> None:
    bucket = TokenBucket(rate=10, capacity=10, clock=fake_time.clock)
    await bucket.acquire(10, fake_time.sleep)
    await bucket.acquire(2, fake_time.sleep)
    assert fake_time.sleeps == [pytest.approx(0.2)]


def test_bucket_rejects_impossible_costs(fake_time: FakeTime) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1, clock=fake_time.clock)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=5, clock=fake_time.clock).try_acquire(6)
