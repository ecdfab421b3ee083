"""Medical-record amendment throughput: 8 concurrent clients, each amending its own record.

Against a real `vetchart serve` process (embedded PostgreSQL in a fresh data folder, the
demo data), each client signs in as the Riverside vet, creates one record on its own demo
pet, then sends a fixed number of `PATCH /api/v1/medical-records/{id}` requests, each with
`If-Match` set to the ETag of the previous answer (so every request is a real new version:
row lock, version check, projection update, event insert and audit row, in one
transaction). Prints requests/s over the measured phase and the p50/p95 latency.

Bounded: a fixed number of requests, loopback only. Usage: `python -m bench.records_amend`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.server import demo_server, percentile
from vetchart.services.demo import DEMO_PASSWORD

CLIENTS = 8
WARM_UP_PER_CLIENT = 5
AMENDS_PER_CLIENT = 60
USER = "vet@riverside.vetchart.local"
API = "/api/v1"


async def _sign_in(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        f"{API}/auth/token", data={"username": USER, "password": DEMO_PASSWORD}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _new_record(client: httpx.AsyncClient, headers: dict[str, str], pet_id: str) -> str:
    visit = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    response = await client.post(
        f"{API}/pets/{pet_id}/medical-records",
        json={"record_type": "checkup", "title": "Bench check-up", "visit_date": visit},
        headers=headers,
    )
    response.raise_for_status()
    return str(response.json()["id"])


class Amender:
    """One client: its own connection, session and record."""

    def __init__(self, base_url: str, index: int) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.index = index
        self.headers: dict[str, str] = {}
        self.record_id = ""
        self.etag = '"1"'
        self.sent = 0

    async def prepare(self, pet_id: str) -> None:
        self.headers = await _sign_in(self.client)
        self.record_id = await _new_record(self.client, self.headers, pet_id)

    async def amend(self, count: int, latencies: list[float] | None) -> None:
        for _ in range(count):
            self.sent += 1
            body = {"diagnosis": f"client {self.index}, amendment {self.sent}"}
            started = time.perf_counter()
            response = await self.client.patch(
                f"{API}/medical-records/{self.record_id}",
                json=body,
                headers={**self.headers, "If-Match": self.etag},
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"amendment failed: {response.status_code} {response.text}")
            self.etag = response.headers["etag"]
            if latencies is not None:
                latencies.append(elapsed_ms)

    async def aclose(self) -> None:
        await self.client.aclose()


async def _run(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        headers = await _sign_in(client)
        pets = await client.get(f"{API}/pets", params={"limit": CLIENTS}, headers=headers)
        pets.raise_for_status()
        pet_ids = [pet["id"] for pet in pets.json()["items"]]
    if len(pet_ids) < CLIENTS:
        raise SystemExit(f"the demo data has only {len(pet_ids)} Riverside pets")
    amenders = [Amender(base_url, i) for i in range(CLIENTS)]
    try:
        for amender, pet_id in zip(amenders, pet_ids, strict=True):
            await amender.prepare(pet_id)
        await asyncio.gather(*(a.amend(WARM_UP_PER_CLIENT, None) for a in amenders))
        latencies: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(a.amend(AMENDS_PER_CLIENT, latencies) for a in amenders))
        elapsed = time.perf_counter() - started
        versions = {a.etag for a in amenders}
    finally:
        for amender in amenders:
            await amender.aclose()
    expected = f'"{1 + WARM_UP_PER_CLIENT + AMENDS_PER_CLIENT}"'
    if versions != {expected}:
        raise SystemExit(f"unexpected final versions {versions}, wanted {expected}")
    return {
        "requests": float(len(latencies)),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
        "max_ms": max(latencies),
    }


def main() -> None:
    with demo_server() as base:
        results = asyncio.run(_run(base))
    print(
        f"PATCH /api/v1/medical-records/{{id}}: {CLIENTS} concurrent clients, each on its own "
        f"record, {AMENDS_PER_CLIENT} amendments each (after {WARM_UP_PER_CLIENT} warm-up):"
    )
    print(
        f"  {results['requests']:.0f} requests in {results['seconds']:.2f} s: "
        f"{results['per_second']:.1f} requests/s; latency p50 {results['p50_ms']:.1f} ms, "
        f"p95 {results['p95_ms']:.1f} ms, max {results['max_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
