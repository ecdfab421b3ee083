"""Login load vs. everything else.

Measures, against a real `vetchart serve` process (embedded PostgreSQL, production
Argon2 parameters):

1. the time of one Argon2id hash with the configured parameters;
2. the p50/p95 latency of a cheap authenticated GET (`/api/v1/users/me`) with no other load;
3. the same while 8 clients log in concurrently in a loop.

Bounded: a fixed number of requests, loopback only. Usage: `python -m bench.auth_latency`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vetchart.adapters.security.passwords import Argon2Hasher
from vetchart.config import AuthSettings
from vetchart.services.demo import DEMO_PASSWORD

GET_SAMPLES = 300
LOGIN_WORKERS = 8
LOGINS_PER_WORKER = 25
USER = "owner@vetchart.local"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure_gets(client: httpx.AsyncClient, token: str, stop: asyncio.Event) -> list[float]:
    samples: list[float] = []
    for _ in range(GET_SAMPLES):
        started = time.perf_counter()
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    stop.set()
    return samples


async def _login_loop(client: httpx.AsyncClient, stop: asyncio.Event, counter: list[int]) -> None:
    for _ in range(LOGINS_PER_WORKER):
        if stop.is_set():
            return
        response = await client.post(
            "/api/v1/auth/token", data={"username": USER, "password": DEMO_PASSWORD}
        )
        response.raise_for_status()
        counter.append(1)


async def _run(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        login = await client.post(
            "/api/v1/auth/token", data={"username": USER, "password": DEMO_PASSWORD}
        )
        login.raise_for_status()
        token = login.json()["access_token"]
        quiet = await _measure_gets(client, token, asyncio.Event())
        stop = asyncio.Event()
        counter: list[int] = []
        started = time.perf_counter()
        loaded, *_ = await asyncio.gather(
            _measure_gets(client, token, stop),
            *(_login_loop(client, stop, counter) for _ in range(LOGIN_WORKERS)),
        )
        elapsed = time.perf_counter() - started
    return {
        "quiet_p50_ms": statistics.median(quiet),
        "quiet_p95_ms": _percentile(quiet, 0.95),
        "loaded_p50_ms": statistics.median(loaded),
        "loaded_p95_ms": _percentile(loaded, 0.95),
        "logins_during_load": float(len(counter)),
        "logins_per_second": len(counter) / elapsed,
    }


async def _hash_time() -> float:
    defaults = AuthSettings()
    hasher = Argon2Hasher(
        time_cost=defaults.argon2_time_cost,
        memory_kib=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
        max_concurrency=1,
    )
    await hasher.hash("warm-up passphrase for the bench")
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        await hasher.hash("correct horse battery staple, again")
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    bin_dir = Path(sys.executable).parent
    data_dir = Path(tempfile.mkdtemp(prefix="vetchart-bench-"))
    port = _free_port()
    env = {
        **os.environ,
        "VETCHART_DATA_DIR": str(data_dir),
        "VETCHART_PORT": str(port),
        "VETCHART_LOG_LEVEL": "WARNING",
        "VETCHART_RATE_LIMIT_ENABLED": "false",
    }
    env.pop("DATABASE_URL", None)
    vetchart = str(bin_dir / "vetchart")
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([vetchart, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([vetchart, "demo", "seed"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [vetchart, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("server did not become ready")
        hash_ms = asyncio.run(_hash_time())
        results = asyncio.run(_run(base))
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    defaults = AuthSettings()
    print(
        f"argon2id t={defaults.argon2_time_cost} m={defaults.argon2_memory_kib} KiB "
        f"p={defaults.argon2_parallelism}, hash concurrency {defaults.hash_concurrency}: "
        f"one hash {hash_ms:.1f} ms (median of 5)"
    )
    print(f"GET /api/v1/users/me, {GET_SAMPLES} sequential requests:")
    print(
        f"  no logins running:       p50 {results['quiet_p50_ms']:.1f} ms, "
        f"p95 {results['quiet_p95_ms']:.1f} ms"
    )
    print(
        f"  {LOGIN_WORKERS} concurrent login loops: p50 {results['loaded_p50_ms']:.1f} ms, "
        f"p95 {results['loaded_p95_ms']:.1f} ms "
        f"({results['logins_during_load']:.0f} logins, {results['logins_per_second']:.1f}/s)"
    )


if __name__ == "__main__":
    main()
