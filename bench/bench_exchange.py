"""Benchmark the local exchange: signed order create+cancel round trips over HTTP on 127.0.0.1.

Starts ``milkbot exchange`` as a subprocess on a free loopback port with a key generated for
the run, sends ``--n`` round trips (create a resting GTC bid, then cancel it) one after the
other, bounded by ``--max-seconds``, and prints round trips per second and p50/p99 latency,
with the machine and the date. Also times the pure matching engine in-process.

    .venv/bin/python bench/bench_exchange.py [--n 2000] [--max-seconds 60]
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_ID = "bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _headers(key: rsa.RSAPrivateKey, method: str, path: str) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    sig = key.sign(
        f"{ts}{method}{path}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return {
        "KALSHI-ACCESS-KEY": KEY_ID,
        "KALSHI-ACCESS-TIMESTAMP": ts,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(sig).decode(),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_http(n: int, max_seconds: float) -> None:
    """Round trips against a subprocess server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp) / "bench.pub.pem"
        pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        cmd = [
            sys.executable,
            "-m",
            "milkbot",
            "exchange",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        cmd += [
            "--speed",
            "1",
            "--start",
            "2025-04-06T18:00:00Z",
            "--public-key",
            f"{KEY_ID}={pem}",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if http.get("/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("exchange did not start")
                    time.sleep(0.2)
                markets = http.get("/trade-api/v2/markets", params={"status": "open"}).json()
                ticker = markets["markets"][0]["ticker"]
                create_path = "/trade-api/v2/portfolio/events/orders"
                round_trips: list[float] = []
                requests: list[float] = []
                started = time.perf_counter()
                for i in range(n):
                    if time.perf_counter() - started > max_seconds:
                        break
                    body = {
                        "ticker": ticker,
                        "client_order_id": f"bench-{i}",
                        "side": "bid",
                        "count": "1.00",
                        "price": "0.01",
                        "time_in_force": "good_till_canceled",
                        "self_trade_prevention_type": "taker_at_cross",
                    }
                    t0 = time.perf_counter()
                    r = http.post(
                        create_path, json=body, headers=_headers(key, "POST", create_path)
                    )
                    t1 = time.perf_counter()
                    if r.status_code != 201:
                        raise SystemExit(f"create failed: {r.status_code} {r.text}")
                    path = f"{create_path}/{r.json()['order_id']}"
                    r = http.delete(path, headers=_headers(key, "DELETE", path))
                    t2 = time.perf_counter()
                    if r.status_code != 200:
                        raise SystemExit(f"cancel failed: {r.status_code} {r.text}")
                    requests += [t1 - t0, t2 - t1]
                    round_trips.append(t2 - t0)
                elapsed = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(10)
    k = len(round_trips)
    print(
        f"HTTP create+cancel round trips: {k} in {elapsed:.2f} s -> {k / elapsed:.1f} round trips/s"
    )
    print(
        f"  round trip latency ms: p50 {1000 * statistics.median(round_trips):.2f}, "
        f"p99 {1000 * _pct(round_trips, 0.99):.2f}, max {1000 * max(round_trips):.2f}"
    )
    print(
        f"  single request latency ms: p50 {1000 * statistics.median(requests):.2f}, "
        f"p99 {1000 * _pct(requests, 0.99):.2f}  (includes client-side RSA signing)"
    )


def bench_engine(n: int) -> None:
    """Matching-engine throughput without HTTP: crossing orders of two accounts."""
    from milkbot.clock import FixedClock
    from milkbot.domain.fees import FeeModel
    from milkbot.venues.exchange.matching import BookSide, Engine, OrderRequest

    engine = Engine(FixedClock(datetime(2025, 4, 6, tzinfo=UTC)))
    engine.add_market("T", "E", "S", FeeModel())
    engine.open_account("a", Decimal(10**9))
    engine.open_account("b", Decimal(10**9))
    t0 = time.perf_counter()
    for i in range(n):
        price = Decimal(40 + i % 20) / 100
        engine.create_order("a", OrderRequest("T", BookSide.BID, Decimal(3), price))
        engine.create_order("b", OrderRequest("T", BookSide.ASK, Decimal(2), price))
    elapsed = time.perf_counter() - t0
    trades = len(engine.fills) // 2
    rate = 2 * n / elapsed
    print(f"engine: {2 * n} orders ({trades} trades) in {elapsed:.2f} s -> {rate:.0f} orders/s")


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="round trips (bounded)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time bound")
    args = parser.parse_args()
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    bench_http(min(args.n, 100_000), args.max_seconds)
    bench_engine(min(args.n, 100_000))


if __name__ == "__main__":
    main()
