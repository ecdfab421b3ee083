"""Issue 12's scale run: does a pet's record list stay as fast at 1M records as at 10k, and
is the history of a 5,000-version record paginated?

On a fresh embedded PostgreSQL (temporary folder, removed at the end), migrated by the
checkout being measured (`--source DIR`, default this one):

1. loads 10,000 pets (5,000 approved clients) and 10,000 medical records: one pet with
   5,000 records, one record with 5,000 versions (created, then amended through the
   domain's amend path), the rest spread over the other pets; all through the fast path
   of `bench.dataset` (domain-built rows COPied into the event store and the projection);
2. measures with wrk (vetchart pinned to CPU 0, wrk on CPU 1) the p50 of
   `GET /api/v1/pets/{big pet}/medical-records?limit=50`, and of the history of the
   5,000-version record (`?limit=50`: the first page, and a page deep in, reached through
   `next_cursor`);
3. grows the records to 1,000,000 (spread over the other pets, in batches) and measures
   again. Target: the list's p50 at 1M within 1.5x of the figure at 10k.

Usage: `python -m bench.scale [--total N] [--seconds S] [--rounds N] [--source DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx

from bench import dataset, harness
from bench.harness import API, Server, WrkResult, median

# About 4 GB at 1M records (projection, events with their snapshots, indexes, WAL).
MIN_FREE_BYTES = 12 * 1024**3
HISTORY_LIMIT = 50


@dataclass
class Figure:
    rps: float
    p50_ms: float
    cpu_ms: float  # server CPU per request (steadier than p50 on a shared machine)
    note: str = ""

    def text(self) -> str:
        rps = f"{self.rps:,.0f}" if self.rps >= 100 else f"{self.rps:.1f}"
        p50 = f"{self.p50_ms:,.0f}" if self.p50_ms >= 100 else f"{self.p50_ms:.1f}"
        cpu = f"{self.cpu_ms:.2f}" if self.cpu_ms < 100 else f"{self.cpu_ms:,.0f}"
        note = f"; {self.note}" if self.note else ""
        return f"{p50} ms ({rps} req/s, server CPU {cpu} ms/request){note}"


class Measure:
    def __init__(
        self, args: argparse.Namespace, server: Server, ds: dataset.Dataset, pg: int | None
    ) -> None:
        self.postgres_pid = pg
        self.args = args
        self.server = server
        self.ds = ds
        self.token = ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def wrk(self, path: str, connections: int) -> Figure:
        harness.wait_quiet(self.server.process.pid, self.postgres_pid, self.args.wait_quiet)
        self.token = harness.login(self.server.base, self.ds.vet_email, self.ds.password)
        url = self.server.base + path
        harness.run_wrk(url, connections=connections, seconds=2, headers=self.headers())
        runs: list[WrkResult] = []
        others: list[float] = []
        cpu: list[float] = []
        for _ in range(self.args.rounds):
            watch = harness.CpuWatch(self.server.process.pid, self.postgres_pid)
            watch.start()
            result = harness.run_wrk(
                url, connections=connections, seconds=self.args.seconds, headers=self.headers()
            )
            share = watch.stop()
            others.append(share.foreign)
            cpu.append(share.server_ms_per_request(result.requests))
            if result.non_2xx or result.socket_errors:
                raise SystemExit(
                    f"{path}: {result.non_2xx} non-2xx answers, {result.socket_errors} "
                    f"socket errors:\n{result.output}"
                )
            runs.append(result)
        rounds = ", ".join(f"{r.p50_ms:.1f}" for r in runs)
        foreign = ", ".join(f"{f:.2f}" for f in others)
        print(
            f"    {path}: p50 per round {rounds} ms (other processes: {foreign} cores)",
            flush=True,
        )
        return Figure(median([r.rps for r in runs]), median([r.p50_ms for r in runs]), median(cpu))

    def get(self, path: str) -> httpx.Response:
        response = httpx.get(self.server.base + path, headers=self.headers(), timeout=300)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:500]}")
        return response

    def records_list(self) -> Figure:
        path = f"{API}/pets/{self.ds.big_pet.id}/medical-records?limit=50"
        self.token = harness.login(self.server.base, self.ds.vet_email, self.ds.password)
        items = self.get(path).json()["items"]
        if len(items) != 50:
            raise SystemExit(f"the list returned {len(items)} records, expected 50")
        return self.wrk(path, self.args.connections)

    def history(self, record_id: Any, versions: int) -> dict[str, Figure]:
        """The first page, and the page reached after half the versions, when the endpoint
        pages; else what one request for the whole history costs."""
        self.token = harness.login(self.server.base, self.ds.vet_email, self.ds.password)
        base = f"{API}/medical-records/{record_id}/history?limit={HISTORY_LIMIT}"
        started = time.perf_counter()
        first = self.get(base)
        seconds = time.perf_counter() - started
        body = first.json()
        items = body["items"]
        if len(items) > HISTORY_LIMIT:
            note = (
                f"limit ignored: {len(items):,} entries, {len(first.content) / 1e6:.1f} MB "
                f"in one answer ({seconds:.2f} s for the first)"
            )
            print(f"    history: {note}", flush=True)
            figure = self.wrk(base, 1)
            figure.note = note
            return {"first": figure}
        figures = {"first": self.wrk(base, self.args.connections)}
        cursor, pages = body.get("next_cursor"), 1
        page_body = body
        while cursor and pages < versions // HISTORY_LIMIT // 2:
            page_body = self.get(f"{base}&cursor={quote(cursor)}").json()
            cursor, pages = page_body.get("next_cursor"), pages + 1
        if pages == 1:
            figures["first"].note = "one page only (no next_cursor)"
            return figures
        deep = f"{base}&cursor={quote(cursor)}" if cursor else base
        position = page_body["items"][-1]["version"] if page_body["items"] else "?"
        figures["deep"] = self.wrk(deep, self.args.connections)
        figures["deep"].note = f"page {pages + 1}, after version {position}"
        return figures


async def _connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await conn.execute("SET synchronous_commit = off")
    return conn


async def load_small(dsn: str, args: argparse.Namespace) -> tuple[dataset.Dataset, Any]:
    conn = await _connect(dsn)
    try:
        ds = await dataset.load_base(
            conn,
            owners=args.pets // 2,
            pets_count=args.pets,
            big_pet_records=args.big,
            amend_records=0,
        )
        record_id = await dataset.add_versioned_record(conn, ds, ds.pets[1], args.versions)
        ds.counts["records"] += 1
        rest = max(0, args.first - ds.counts["records"])
        ds.counts["records"] += await dataset.add_records(conn, ds, rest)
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")  # the load's dirty pages written before measuring
        return ds, record_id
    finally:
        await conn.close()


async def grow(dsn: str, ds: dataset.Dataset, total: int) -> int:
    conn = await _connect(dsn)
    try:
        more = max(0, total - ds.counts["records"])
        added = await dataset.add_records(conn, ds, more, start=ds.counts["records"], progress=True)
        ds.counts["records"] += added
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE medical_records")
        await conn.execute("VACUUM ANALYZE medical_record_events")
        await conn.execute("CHECKPOINT")  # the load's dirty pages written before measuring
        print(
            f"    VACUUM ANALYZE and CHECKPOINT: {time.perf_counter() - started:.0f} s", flush=True
        )
        return added
    finally:
        await conn.close()


async def sizes(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return dict(
            await conn.fetchrow(
                "SELECT (SELECT count(*) FROM medical_records) AS records, "
                "(SELECT count(*) FROM medical_record_events) AS events, "
                "pg_size_pretty(pg_database_size(current_database())) AS size"
            )
        )
    finally:
        await conn.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pets", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=5_000, help="records of the big pet")
    parser.add_argument("--versions", type=int, default=5_000, help="of the versioned record")
    parser.add_argument("--first", type=int, default=10_000, help="records in the first step")
    parser.add_argument("--total", type=int, default=1_000_000, help="records in the second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--source", type=Path, help="serve from this checkout's src/")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--label", help="what is measured, for the report")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for a quiet machine",
    )
    args = parser.parse_args()
    if args.source is not None:
        args.source = args.source.resolve()
        if not (args.source / "src" / "vetchart").is_dir():
            parser.error(f"{args.source}/src/vetchart does not exist")
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    free = shutil.disk_usage(tempfile.gettempdir()).free
    print(f"free disk space in {tempfile.gettempdir()}: {free / 1024**3:.0f} GiB")
    if free < MIN_FREE_BYTES:
        raise SystemExit(f"need at least {MIN_FREE_BYTES / 1024**3:.0f} GiB free; stopping")
    harness.ensure_wrk()
    lines: list[str] = []
    with harness.embedded_database("vetchart-scale-") as db:
        harness.pin_self(harness.LOAD_CPU)
        harness.migrate(db, args.source)
        t = time.perf_counter()
        ds, record_id = asyncio.run(load_small(db.dsn, args))
        small_load = time.perf_counter() - t
        print(
            f"step 1: {args.pets:,} pets, {ds.counts['records']:,} records (the big pet "
            f"{args.big:,}; one record with {args.versions:,} versions) loaded in "
            f"{small_load:.1f} s",
            flush=True,
        )
        server = harness.start_vetchart(db, args.source)
        try:
            measure = Measure(args, server, ds, db.postmaster_pid())
            print("  measuring at the first size:", flush=True)
            list_small = measure.records_list()
            history_small = measure.history(record_id, args.versions)
            small_size = asyncio.run(sizes(db.dsn))
            print(f"step 2: growing to {args.total:,} records ...", flush=True)
            t = time.perf_counter()
            added = asyncio.run(grow(db.dsn, ds, args.total))
            big_load = time.perf_counter() - t
            big_size = asyncio.run(sizes(db.dsn))
            print(
                f"  {added:,} records added in {big_load:.0f} s ({added / big_load:,.0f}/s, "
                "with VACUUM ANALYZE)",
                flush=True,
            )
            print("  measuring at the second size:", flush=True)
            list_big = measure.records_list()
            history_big = measure.history(record_id, args.versions)
        except BaseException:
            if server.log_tail():
                print(f"--- the end of the vetchart log:\n{server.log_tail()}")
            raise
        finally:
            server.stop()
    ratio = list_big.p50_ms / list_small.p50_ms
    cpu_ratio = list_big.cpu_ms / list_small.cpu_ms
    small_n, big_n = f"{small_size['records']:,}", f"{big_size['records']:,}"
    lines = [
        "vetchart scale run (bench/scale.py): "
        + (args.label or harness.source_revision(args.source)),
        f"- wrk -t1, {args.connections} connections, 2 s warm-up then {args.rounds} rounds of "
        f"{args.seconds:g} s, medians; vetchart pinned to CPU 0, wrk on CPU 1",
        f"- step 1: {small_n} records ({small_size['events']:,} events, database "
        f"{small_size['size']}), loaded in {small_load:.1f} s; step 2: {big_n} records "
        f"({big_size['events']:,} events, database {big_size['size']}), "
        f"{added:,} added in {big_load:.0f} s",
        "",
        f"| measurement | {small_n} records | {big_n} records | ratio | target | met |",
        "|---|---|---|---|---|---|",
        f"| list 50 of the big pet's {args.big:,} records, p50 | {list_small.text()} "
        f"| {list_big.text()} | {ratio:.2f}x (server CPU per request: {cpu_ratio:.2f}x) "
        f"| within 1.5x | {'yes' if ratio <= 1.5 else 'NO'} |",
    ]
    for key, label in (("first", "first page"), ("deep", "a page deep in")):
        if key not in history_small and key not in history_big:
            continue
        small, big = history_small.get(key), history_big.get(key)
        paged = "limit ignored" not in ((small.note if small else "") + (big.note if big else ""))
        cells = [small.text() if small else "—", big.text() if big else "—"]
        r = f"{big.p50_ms / small.p50_ms:.2f}x" if small and big else "—"
        lines.append(
            f"| history of the {args.versions:,}-version record, {label} (limit 50), p50 "
            f"| {cells[0]} | {cells[1]} | {r} | paginated | {'yes' if paged else 'NO'} |"
        )
    lines.append(f"\nwhole run: {time.perf_counter() - started:.0f} s (temporary data removed)")
    print("\n" + "\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
