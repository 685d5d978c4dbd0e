"""The public dashboard in headless Chromium against `milkbot demo`."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, REPO
from tests.dashboard.conftest import CITIES
from tests.test_demo import Demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO / "docs" / "dashboard.png"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail("Debian's chromium must be installed in CI (.ci/run installs it)")
        pytest.skip("no /usr/bin/chromium: apt-get install chromium to run browser tests")
    d = Demo(tmp_path_factory.mktemp("browser"), "--speed", "1500")
    try:
        d.wait_ready()
        yield d
    finally:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGINT)
            try:
                d.proc.wait(timeout=60)
            except Exception:
                os.killpg(d.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _api_calls(demo: Demo, path: str) -> float:
    text = httpx.get(demo.api + "/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("milkbot_api_requests_total{") and f'path="{path}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_ten_cards_render_with_data_and_refresh(demo: Demo, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.goto(demo.dashboard, wait_until="networkidle")
    for name in CITIES:
        page.get_by_text(name, exact=False).first.wait_for(timeout=60_000)
    # Cards with delayed market data carry a bracket chart.
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=\"stVegaLiteChart\"], .vega-embed').length >= 5",
        timeout=90_000,
    )
    bg = page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    assert bg == "rgb(23, 22, 20)"  # the dark theme
    caption = page.get_by_text(re.compile(r"^Data as of")).first
    before = caption.inner_text()
    deadline = time.monotonic() + 20
    while caption.inner_text() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert caption.inner_text() != before, "the grid did not refresh"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    # The other sections render in the browser too.
    page.get_by_role("tab", name="City detail").click()
    page.get_by_text("Probability per bracket over time").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Strategies").click()
    page.get_by_text(
        re.compile(r"^(Scores and P&L attribution|No strategy has forecast)")
    ).first.wait_for(timeout=30_000)
    assert page.get_by_text("Traceback").count() == 0
    page.close()


def test_api_calls_do_not_grow_with_viewers(demo: Demo, browser) -> None:  # type: ignore[no-untyped-def]
    def calls_over(seconds: float, viewers: int) -> float:
        pages = [browser.new_page() for _ in range(viewers)]
        for p in pages:
            p.goto(demo.dashboard, wait_until="networkidle")
        time.sleep(3)
        start = _api_calls(demo, "/v1/cities")
        time.sleep(seconds)
        n = _api_calls(demo, "/v1/cities") - start
        for p in pages:
            p.close()
        return n

    one = calls_over(15, 1)
    four = calls_over(15, 4)
    assert one >= 2  # the grid does poll
    assert four <= one + 2, (one, four)
