"""``milkbot trader`` refuses Kalshi demo/prod orders without both --live and live trading."""

from __future__ import annotations

from pathlib import Path

import pytest

from milkbot.errors import ConfigError
from milkbot.launcher import demo_key
from milkbot.settings import Settings
from milkbot.trader.commands import run_trader


@pytest.mark.parametrize(("live_flag", "live_setting"), [(False, False), (True, False)])
async def test_no_live_orders_without_both_switches(
    tmp_path: Path, live_flag: bool, live_setting: bool
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        venue="demo",
        kalshi_key_id="k",
        kalshi_private_key_path=demo_key(tmp_path)[0],
        live_trading=live_setting,
        _env_file=None,  # type: ignore[call-arg]
    )
    with pytest.raises(ConfigError, match="refusing to trade"):
        await run_trader(settings, demo=False, poll_seconds=1.0, live=live_flag)
