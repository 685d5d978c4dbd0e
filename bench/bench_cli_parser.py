"""Throughput of the CLI parser and the settlement verifier (prints figures; no assertions).

Run: ``.venv/bin/python bench/bench_cli_parser.py [DATASET_DIR]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from milkbot.datasets import load_dataset
from milkbot.weather.cli_report import parse_cli_product
from milkbot.weather.settlement import verify_dataset

REPO = Path(__file__).resolve().parent.parent
CLI_DIR = REPO / "tests" / "fixtures" / "nws" / "cli"


def bench_parser(rounds: int = 2000) -> None:
    texts = [p.read_text() for p in sorted(CLI_DIR.glob("*.txt"))]
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            parse_cli_product(text)
    elapsed = time.perf_counter() - start
    n = rounds * len(texts)
    print(f"cli parser: {n} products in {elapsed:.3f} s = {n / elapsed:,.0f} products/s")


def bench_verifier(dataset: Path) -> None:
    start = time.perf_counter()
    data = load_dataset([dataset])
    loaded = time.perf_counter()
    report = verify_dataset(data)
    done = time.perf_counter()
    print(f"dataset load: {loaded - start:.2f} s; verify: {done - loaded:.2f} s")
    for line in report.lines():
        print("  " + line)


if __name__ == "__main__":
    bench_parser()
    default = REPO.parent / "shared" / "data" / "kalshi-tape-2023-2025"
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if target.is_dir():
        bench_verifier(target)
