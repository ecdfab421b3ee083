"""The cost of auditing a read, and audit rows written per second under load.

1. Service level, in process (embedded PostgreSQL in a temporary folder, demo data):
   `MedicalRecordService.get` 500 times in a row, as written (scope check + the
   `medical_record.read` audit row committed before the data is returned), then 500 times
   with the audit call replaced by a no-op (the same transaction, minus the row). Prints
   statements per read (counted on the engine) and p50/p95 latency of each.
2. Load, over HTTP: a real `vetchart serve`, 8 concurrent clients reading records for a
   fixed number of requests; every read writes one audit row, counted in the database
   before and after. Prints audited reads (= audit rows) per second and latency.

Bounded: fixed request counts, loopback only. Usage: `python -m bench.audit_cost`.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, select

from bench.server import demo_server, percentile
from vetchart import bootstrap
from vetchart.adapters.db import migrate
from vetchart.adapters.db.embedded import EmbeddedPostgres
from vetchart.adapters.db.tables import medical_records, users
from vetchart.config import DatabaseSettings, Environment, ObservabilitySettings, Settings
from vetchart.domain.audit import RequestMeta
from vetchart.domain.policy import Principal
from vetchart.domain.users import Role
from vetchart.services import records as records_module
from vetchart.services.demo import DEMO_PASSWORD

READS = 500
WARM_UP = 50
CLIENTS = 8
READS_PER_CLIENT = 150
USER = "vet@riverside.vetchart.local"
API = "/api/v1"


async def _service_level(url: str) -> dict[str, dict[str, float]]:
    settings = Settings(
        env=Environment.TEST,
        database=DatabaseSettings(url=url),
        observability=ObservabilitySettings(log_level="WARNING", log_json=False),
    )
    container = await bootstrap.build_container(settings, database_url=url)
    try:
        for seed in bootstrap.demo_seeders(container):
            await seed()
        async with container.engine.connect() as conn:
            vet = (await conn.execute(select(users).where(users.c.email == USER))).one()
            record_id = await conn.scalar(
                select(medical_records.c.id)
                .where(medical_records.c.practice_id == vet.practice_id)
                .limit(1)
            )
        actor = Principal(vet.id, Role.VET, vet.practice_id, uuid.uuid4(), False)
        meta = RequestMeta(request_id="bench", client_address="127.0.0.1", user_agent="bench")
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        async def measure() -> tuple[list[float], float]:
            for _ in range(WARM_UP):
                await container.records.get(actor, record_id, meta)
            latencies = []
            statements.clear()
            for _ in range(READS):
                started = time.perf_counter()
                await container.records.get(actor, record_id, meta)
                latencies.append((time.perf_counter() - started) * 1000)
            return latencies, len(statements) / READS

        event.listen(container.engine.sync_engine, "before_cursor_execute", count)
        with_audit, with_statements = await measure()
        original = records_module.audit
        records_module.audit = lambda *args, **kwargs: None  # type: ignore[assignment]
        try:
            without_audit, without_statements = await measure()
        finally:
            records_module.audit = original
        event.remove(container.engine.sync_engine, "before_cursor_execute", count)
        return {
            "with": _summary(with_audit) | {"statements": with_statements},
            "without": _summary(without_audit) | {"statements": without_statements},
        }
    finally:
        await container.aclose()


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
    }


async def _load(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        token = await client.post(
            f"{API}/auth/token", data={"username": USER, "password": DEMO_PASSWORD}
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        pets = await client.get(f"{API}/pets", params={"limit": CLIENTS}, headers=headers)
        pets.raise_for_status()
        record_ids: list[str] = []
        for pet in pets.json()["items"]:
            page = await client.get(
                f"{API}/pets/{pet['id']}/medical-records", params={"limit": 1}, headers=headers
            )
            page.raise_for_status()
            record_ids += [item["id"] for item in page.json()["items"]]
        if not record_ids:
            raise SystemExit("no demo records to read")
        before = await _count_reads(client, headers)

        latencies: list[float] = []

        async def reader(index: int) -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as own:
                record_id = record_ids[index % len(record_ids)]
                for _ in range(READS_PER_CLIENT):
                    started = time.perf_counter()
                    response = await own.get(f"{API}/medical-records/{record_id}", headers=headers)
                    latencies.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"read failed: {response.status_code}")

        started = time.perf_counter()
        await asyncio.gather(*(reader(i) for i in range(CLIENTS)))
        elapsed = time.perf_counter() - started
        after = await _count_reads(client, headers)
    return {
        "requests": float(len(latencies)),
        "rows": float(after - before),
        "seconds": elapsed,
        "rows_per_second": (after - before) / elapsed,
        **_summary(latencies),
    }


async def _count_reads(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    """medical_record.read rows, counted through the audit API as the practice admin."""
    token = await client.post(
        f"{API}/auth/token",
        data={"username": "manager@riverside.vetchart.local", "password": DEMO_PASSWORD},
    )
    token.raise_for_status()
    admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    total, cursor = 0, None
    while True:
        params = {"action": "medical_record.read", "limit": "200"}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(f"{API}/audit-events", params=params, headers=admin)
        page.raise_for_status()
        total += len(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return total


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="vetchart-bench-audit-"))
    try:
        with EmbeddedPostgres(folder / "pgdata") as server:
            url = server.url()
            migrate.upgrade(url, "head")
            service = asyncio.run(_service_level(url))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"MedicalRecordService.get, {READS} reads in a row (in process):")
    for name in ("with", "without"):
        row = service[name]
        print(
            f"  {name} the audit row: {row['statements']:.0f} statements per read; "
            f"p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms"
        )
    with demo_server() as base:
        load = asyncio.run(_load(base))
    print(f"GET /api/v1/medical-records/{{id}}: {CLIENTS} concurrent clients x {READS_PER_CLIENT}:")
    print(
        f"  {load['requests']:.0f} reads, {load['rows']:.0f} audit rows in {load['seconds']:.2f} s:"
        f" {load['rows_per_second']:.0f} audit rows/s; latency p50 {load['p50_ms']:.1f} ms,"
        f" p95 {load['p95_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
