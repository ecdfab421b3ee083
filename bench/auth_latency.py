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
import statistics
import time

import httpx

from bench.server import demo_server, percentile
from vetchart.adapters.security.passwords import Argon2Hasher
from vetchart.config import AuthSettings
from vetchart.services.demo import DEMO_PASSWORD

GET_SAMPLES = 300
LOGIN_WORKERS = 8
LOGINS_PER_WORKER = 25
USER = "owner@vetchart.local"


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
        "quiet_p95_ms": percentile(quiet, 0.95),
        "loaded_p50_ms": statistics.median(loaded),
        "loaded_p95_ms": percentile(loaded, 0.95),
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
        workers=1,
        executor=defaults.hash_executor,
        nice=defaults.hash_worker_nice,
    )
    await hasher.hash("warm-up passphrase for the bench")
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        await hasher.hash("correct horse battery staple, again")
        runs.append((time.perf_counter() - started) * 1000)
    await hasher.aclose()
    return statistics.median(runs)


def main() -> None:
    with demo_server() as base:
        hash_ms = asyncio.run(_hash_time())
        results = asyncio.run(_run(base))
    defaults = AuthSettings()
    print(
        f"argon2id t={defaults.argon2_time_cost} m={defaults.argon2_memory_kib} KiB "
        f"p={defaults.argon2_parallelism} (server: {defaults.hash_executor} pool, "
        f"{defaults.hash_workers or 'one worker per CPU'}): one hash through a one-worker "
        f"pool {hash_ms:.1f} ms (median of 5)"
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
