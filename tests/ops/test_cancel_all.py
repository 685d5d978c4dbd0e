"""``cancel-all`` against the real local exchange, signed with a generated key."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from milkbot.ops.cancel import cancel_all, render_cancel
from milkbot.venues.exchange.matching import MarketStatus

from .conftest import (
    KEY_ID,
    Exchange,
    cli_env,
    open_tickers,
    ops_app,
    place_resting,
    signed_client,
)


async def test_cancel_all_leaves_nothing_resting(
    exchange: Exchange, rsa_key: rsa.RSAPrivateKey
) -> None:
    tickers = open_tickers(exchange.state)[:3]
    async with signed_client(exchange.api, rsa_key) as client:
        placed = await place_resting(client, tickers, per_ticker=9)
        assert len(await client.get_orders(status="resting")) == 27
        report = await cancel_all(client, chunk=10)  # three batches: 10 + 10 + 7
        assert sorted(o.order_id for o in report.found) == sorted(placed)
        assert sorted(a.order_id for a in report.cancelled) == sorted(placed)
        assert report.errors == [] and report.remaining == [] and report.ok
        assert await client.get_orders(status="resting") == []
        canceled = await client.get_orders(status="canceled")
        assert sorted(o.order_id for o in canceled) == sorted(placed)
    text = render_cancel(report)
    assert "27 resting order(s) on the exchange" in text
    assert text.count("  cancelled ") == 27 and text.endswith("no resting orders left")


async def test_cancel_all_by_ticker_and_dry_run(
    exchange: Exchange, rsa_key: rsa.RSAPrivateKey
) -> None:
    first, second = open_tickers(exchange.state)[:2]
    async with signed_client(exchange.api, rsa_key) as client:
        await place_resting(client, [first, second], per_ticker=2)
        dry = await cancel_all(client, dry_run=True)
        assert len(dry.found) == 4 and dry.cancelled == [] and dry.ok
        assert len(await client.get_orders(status="resting")) == 4
        only = await cancel_all(client, ticker=first)
        assert {o.ticker for o in only.found} == {first} and len(only.cancelled) == 2
        left = await client.get_orders(status="resting")
        assert {o.ticker for o in left} == {second} and len(left) == 2


def test_cancel_all_cli(
    threaded_exchange: Exchange, key_file: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    import asyncio

    ex = threaded_exchange
    tickers = open_tickers(ex.state)[:2]
    assert all(ex.state.engine.markets[t].status is MarketStatus.ACTIVE for t in tickers)

    async def place() -> list[str]:
        async with signed_client(ex.api, rsa_key) as client:
            return await place_resting(client, tickers, per_ticker=3)

    placed = asyncio.run(place())
    env = cli_env(
        MILKBOT_DATA_DIR=str(tmp_path / "var"),
        MILKBOT_EXCHANGE_PORT=str(ex.port),
        MILKBOT_KALSHI_KEY_ID=KEY_ID,
        MILKBOT_KALSHI_PRIVATE_KEY_PATH=str(key_file),
    )
    result = CliRunner().invoke(ops_app(), ["cancel-all"], env=env)
    assert result.exit_code == 0, result.output
    assert "6 resting order(s) on the exchange" in result.stdout
    for order_id in placed:
        assert f"cancelled {order_id}" in result.stdout
    assert result.stdout.rstrip().endswith("no resting orders left")

    async def resting() -> int:
        async with signed_client(ex.api, rsa_key) as client:
            return len(await client.get_orders(status="resting"))

    assert asyncio.run(resting()) == 0
    # Without the account's key there is nothing to ask the exchange with.
    keyless = {**env, "MILKBOT_KALSHI_KEY_ID": None, "MILKBOT_KALSHI_PRIVATE_KEY_PATH": None}
    refused = CliRunner().invoke(ops_app(), ["cancel-all"], env=keyless)
    assert refused.exit_code != 0
    assert "cancel-all needs the account's key" in str(refused.exception)
