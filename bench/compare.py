"""Issue 12: vetchart side by side with the floor, in one run, on one database and data set.

Starts a fresh embedded PostgreSQL in a temporary folder, migrates it with the checkout
being measured (`--source DIR`, default this one), loads the data set of `bench.dataset`
(1 practice, 500 approved clients, 1,000 pets, one pet with 200 records, 50 appointments
today, follow-ups due) through the fast path, then starts a real `vetchart serve` and the
floor app (`bench.floor`: Starlette + asyncpg, one query per request), both pinned to
CPU 0, and drives them from CPU 1 with wrk (or, for amendments that need the previous
answer's ETag, with the asyncio driver below). Every response is checked once before
anything is measured; a run with any non-2xx answer fails.

Usage: `python -m bench.compare [--rounds N] [--seconds S] [--only a,b] [--source DIR]
[--out FILE]`; `make bench` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import dataset, harness
from bench.harness import API, CpuShare, CpuWatch, Server, WrkResult, median

TIMES = "\u00d7"  # the multiplication sign of the table
OLD_NOTE = "old backend: measured by issue 12, not re-run"


@dataclass(frozen=True)
class Old:
    """The old backend's figures, as issue 12's table gives them."""

    rps: float
    text: str


@dataclass
class Outcome:
    """The medians of one scenario (None: not measured for that server)."""

    vetchart: tuple[float, float] | None = None  # (req/s, p50 ms)
    floor: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.vetchart is None or self.floor is None or not self.floor[0]:
            return None
        return self.vetchart[0] / self.floor[0]


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    old: Old
    target: str
    check: Callable[[Outcome], bool | None]


def _at_least(outcome: Outcome, rps: float) -> bool | None:
    return None if outcome.vetchart is None else outcome.vetchart[0] >= rps


def _floor_share(outcome: Outcome, share: float) -> bool | None:
    return None if outcome.ratio is None else outcome.ratio >= share


def _all(*results: bool | None) -> bool | None:
    if any(r is False for r in results):
        return False
    if any(r is None for r in results):
        return None
    return True


SCENARIOS = (
    Scenario(
        "list200",
        "list 200 records of a pet",
        Old(55, "55 (256 ms)"),
        f"≥ 4{TIMES} old and ≥ 50% floor",
        lambda o: _all(_at_least(o, 4 * 55), _floor_share(o, 0.5)),
    ),
    Scenario(
        "list50",
        "list 50 records",
        Old(117, "117 (124 ms)"),
        "≥ 50% floor",
        lambda o: _floor_share(o, 0.5),
    ),
    Scenario(
        "pet",
        "pet with owner",
        Old(221, "221 (68 ms)"),
        f"≥ 10{TIMES} old, ≥ 40% floor",
        lambda o: _all(_at_least(o, 10 * 221), _floor_share(o, 0.4)),
    ),
    Scenario(
        "pets",
        "pets page of 50",
        Old(16, "16 (988 ms)"),
        f"≥ 30{TIMES} old",
        lambda o: _at_least(o, 30 * 16),
    ),
    Scenario(
        "dashboard",
        "vet dashboard today",
        Old(79, "79 (168 ms)"),
        f"≥ 8{TIMES} old",
        lambda o: _at_least(o, 8 * 79),
    ),
    Scenario(
        "appointments",
        "practice appointments today (50)",
        Old(71, "71 (195 ms)"),
        f"≥ 8{TIMES} old",
        lambda o: _at_least(o, 8 * 71),
    ),
    Scenario(
        "amend",
        "amend a record, 4 connections",
        Old(107, "107 (37 ms)"),
        f"≥ 3{TIMES} old, history + audit + outbox kept",
        lambda o: _all(_at_least(o, 3 * 107), o.extra.get("kept")),
    ),
    Scenario(
        "login",
        "login, 4 connections",
        Old(4.0, "4.0 (1,280 ms)"),
        "p50 ≤ 150 ms",
        lambda o: None if o.vetchart is None else o.vetchart[1] <= 150,
    ),
    Scenario(
        "reads_logins",
        "pet-with-owner reads while 4 clients log in",
        Old(19, "19"),
        f"< 1.5{TIMES} slower than without logins",
        lambda o: None if "slowdown" not in o.extra else o.extra["slowdown"] < 1.5,
    ),
)
KEYS = [s.key for s in SCENARIOS]


def _rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


# --------------------------------------------------------------------------- checks


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b)):
            where = f"{path}.{key}" if path else key
            if key == "next_cursor":
                if (a.get(key) is None) != (b.get(key) is None):
                    found.append(f"{where}: {a.get(key)!r} vs {b.get(key)!r}")
            elif key not in a or key not in b:
                found.append(f"{where}: only in {'floor' if key in b else 'vetchart'}")
            else:
                found += _differences(a[key], b[key], where)
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        found = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found += _differences(x, y, f"{path}[{i}]")
        return found
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def _item_ids(body: Any) -> list[Any]:
    items = body.get("items", body.get("appointments")) if isinstance(body, dict) else None
    if items is None:
        return [body.get("id")] if isinstance(body, dict) else []
    return [item.get("id") for item in items]


# --------------------------------------------------------------------------- amend driver


class Amender:
    """One client of the amendment scenario: its own connection and its own record, each
    PATCH sent with If-Match set to the ETag of the previous answer."""

    def __init__(self, base: str, token: str, record_id: str, etag: str, index: int) -> None:
        self.client = httpx.AsyncClient(
            base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        self.record_id = record_id
        self.etag = etag
        self.index = index
        self.sent = 0

    async def run(self, seconds: float, latencies: list[float]) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            self.sent += 1
            body = {"diagnosis": f"client {self.index}, amendment {self.sent}"}
            started = time.perf_counter()
            response = await self.client.patch(
                f"{API}/medical-records/{self.record_id}",
                json=body,
                headers={"If-Match": self.etag},
            )
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"amendment failed: {response.status_code} {response.text}")
            self.etag = response.headers["etag"]

    async def aclose(self) -> None:
        await self.client.aclose()


async def _amend_round(amenders: list[Amender], seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(a.run(seconds, latencies) for a in amenders))
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": median(latencies),
        "driver_cpu": (time.process_time() - cpu) / wall,
    }


# --------------------------------------------------------------------------- the run


class Comparison:
    def __init__(
        self,
        args: argparse.Namespace,
        db: harness.Database,
        ds: dataset.Dataset,
        vetchart: Server,
        floor: Server,
    ) -> None:
        self.args = args
        self.db = db
        self.ds = ds
        self.vetchart = vetchart
        self.floor = floor
        self.token = ""
        self.etags: dict[str, str] = {}
        self.amendments = 0
        self.shares: list[CpuShare] = []  # of every measured round
        self.last_cpu_ms = float("nan")  # server CPU per request in the last measured run
        today = ds.today.isoformat()
        pet, practice, vet = ds.big_pet.id, ds.practice_id, ds.vet_id
        self.paths = {
            "list200": f"{API}/pets/{pet}/medical-records?limit=200",
            "list50": f"{API}/pets/{pet}/medical-records?limit=50",
            "pet": f"{API}/pets/{pet}",
            "pets": f"{API}/pets?limit=50",
            "dashboard": f"{API}/dashboard/today?vet_id={vet}",
            "appointments": f"{API}/practices/{practice}/appointments?date={today}&limit=50",
        }
        self.expected_items = {
            "list200": 200,
            "list50": 50,
            "pets": 50,
            "appointments": ds.counts["appointments_today"],
        }
        self.login_lua = harness.login_script(db.data_dir, ds.admin_email, ds.password)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def renew_token(self) -> None:
        self.token = harness.login(self.vetchart.base, self.ds.vet_email, self.ds.password)

    # ---- verification

    def verify(self, keys: list[str]) -> None:
        """Every request once, on both servers: 2xx, and the floor's answer the same as
        vetchart's (the same rows; differences in values are reported)."""
        self.renew_token()
        print("verification (one request each, before measuring):")
        for key in keys:
            if key not in self.paths:
                continue
            path = self.paths[key]
            mine = httpx.get(self.vetchart.base + path, headers=self._auth(), timeout=60)
            floor = httpx.get(self.floor.base + path, timeout=60)
            for name, response in (("vetchart", mine), ("floor", floor)):
                if response.status_code != 200:
                    raise SystemExit(
                        f"  {key}: {name} answered {response.status_code}: {response.text[:500]}"
                    )
            a, b = mine.json(), floor.json()
            ids_a, ids_b = _item_ids(a), _item_ids(b)
            if ids_a != ids_b:
                raise SystemExit(f"  {key}: the floor returns other rows than vetchart")
            expected = self.expected_items.get(key)
            if expected is not None and len(ids_a) != expected:
                raise SystemExit(f"  {key}: {len(ids_a)} items, expected {expected}")
            diffs = _differences(_normalise(a), _normalise(b))
            size = f"{len(mine.content):,} / {len(floor.content):,} bytes"
            extra = ""
            if key == "dashboard":
                extra = (
                    f", {len(a['appointments'])} appointments, {len(a['follow_ups'])} follow-ups"
                )
            print(f"  {key}: 200 / 200, {len(ids_a)} item(s){extra}, {size} (vetchart / floor)")
            for line in diffs[:3]:
                print(f"    WARNING floor differs at {line}")
            if len(diffs) > 3:
                print(f"    ... and {len(diffs) - 3} more differences")
        if "login" in keys or "reads_logins" in keys:
            harness.login(self.vetchart.base, self.ds.admin_email, self.ds.password)
            print("  login: 200 with an access token")
        if "amend" in keys:
            for record_id in self.ds.amend_record_ids:
                response = httpx.get(
                    f"{self.vetchart.base}{API}/medical-records/{record_id}",
                    headers=self._auth(),
                    timeout=30,
                )
                if response.status_code != 200:
                    raise SystemExit(f"  amend: GET record answered {response.status_code}")
                self.etags[str(record_id)] = response.headers["etag"]
            print(f"  amend: GET of the {len(self.etags)} records to amend: 200 with ETag")

    # ---- measuring

    def watch(self, server: Server) -> CpuWatch:
        watch = CpuWatch(server.process.pid, self.db.postmaster_pid())
        watch.start()
        return watch

    def measured(self, watch: CpuWatch, requests: int) -> str:
        share = watch.stop()
        self.shares.append(share)
        self.last_cpu_ms = share.server_ms_per_request(requests)
        return f"{share.text()}; server CPU {self.last_cpu_ms:.2f} ms per request"

    def wrk(
        self,
        server: Server,
        path: str,
        seconds: float,
        watch: bool = False,
        **kwargs: Any,
    ) -> WrkResult:
        """One wrk run; with ``watch``, a measured one (its CPU shares are printed)."""
        headers = self._auth() if server is self.vetchart else None
        meter = self.watch(server) if watch else None
        result = harness.run_wrk(server.base + path, seconds=seconds, headers=headers, **kwargs)
        cpu = f"; {self.measured(meter, result.requests)}" if meter is not None else ""
        if result.non_2xx or result.socket_errors:
            try:  # a server stopping (a signal from elsewhere?) refuses connections
                server.process.wait(timeout=12)
                state = f"EXITED with {server.process.returncode}"
            except subprocess.TimeoutExpired:
                state = "running"
            raise SystemExit(
                f"{server.name} {path}: {result.non_2xx} non-2xx answers, "
                f"{result.socket_errors} socket errors in a measured run (the server is "
                f"{state}):\n{result.output}"
            )
        if watch:
            print(
                f"    {server.name:8s} {_rps(result.rps):>7s} req/s, p50 {_ms(result.p50_ms)}, "
                f"p99 {_ms(result.p99_ms)}{cpu}",
                flush=True,
            )
        return result

    def read_scenario(self, key: str) -> Outcome:
        path = self.paths[key]
        conns = self.args.connections
        servers = [self.vetchart, self.floor]
        for server in servers:
            self.wrk(server, path, self.args.warmup, connections=conns)
        runs: dict[str, list[WrkResult]] = {s.name: [] for s in servers}
        cpu: dict[str, list[float]] = {s.name: [] for s in servers}
        for _ in range(self.args.rounds):
            for server in servers:
                result = self.wrk(server, path, self.args.seconds, True, connections=conns)
                runs[server.name].append(result)
                cpu[server.name].append(self.last_cpu_ms)
        return Outcome(
            vetchart=_medians(runs["vetchart"]),
            floor=_medians(runs["floor"]),
            extra={"cpu_ms": {name: median(values) for name, values in cpu.items()}},
        )

    def login_scenario(self) -> Outcome:
        path = f"{API}/auth/token"
        self.wrk(self.vetchart, path, self.args.warmup, connections=4, script=self.login_lua)
        runs = []
        cpu = []
        for _ in range(self.args.rounds):
            result = self.wrk(
                self.vetchart, path, self.args.seconds, True, connections=4, script=self.login_lua
            )
            runs.append(result)
            cpu.append(self.last_cpu_ms)
        return Outcome(vetchart=_medians(runs), extra={"cpu_ms": {"vetchart": median(cpu)}})

    def reads_while_logins(self) -> Outcome:
        path, seconds = self.paths["pet"], self.args.seconds
        conns = self.args.connections
        self.wrk(self.vetchart, path, self.args.warmup, connections=conns)
        alone: list[WrkResult] = []
        loaded: list[WrkResult] = []
        logins: list[WrkResult] = []
        for n in range(self.args.rounds):
            alone.append(self.wrk(self.vetchart, path, seconds, True, connections=conns))
            command = harness.wrk_command(
                f"{self.vetchart.base}{API}/auth/token",
                connections=4,
                seconds=seconds + 2,
                script=self.login_lua,
            )
            meter = self.watch(self.vetchart)
            login_load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)
            loaded.append(self.wrk(self.vetchart, path, seconds, connections=conns))
            out, _ = login_load.communicate(timeout=seconds + 60)
            cpu = self.measured(meter, loaded[-1].requests).split("; server CPU")[0]
            login_result = harness.parse_wrk(out)
            if login_result.non_2xx or login_result.socket_errors:
                raise SystemExit(f"logins during reads: non-2xx or socket errors:\n{out}")
            logins.append(login_result)
            print(
                f"    round {n + 1} reads alone {_rps(alone[-1].rps)} req/s "
                f"(p50 {_ms(alone[-1].p50_ms)}); with 4 login loops {_rps(loaded[-1].rps)} "
                f"req/s (p50 {_ms(loaded[-1].p50_ms)}), logins {_rps(login_result.rps)}/s "
                f"(p50 {_ms(login_result.p50_ms)}); {cpu}",
                flush=True,
            )
        with_logins, without = _medians(loaded), _medians(alone)
        return Outcome(
            vetchart=with_logins,
            extra={
                "without": without,
                "slowdown": without[0] / with_logins[0] if with_logins[0] else float("inf"),
                "logins": _medians(logins),
            },
        )

    async def _amend(self) -> Outcome:
        amenders = [
            Amender(self.vetchart.base, self.token, record_id, self.etags[record_id], i)
            for i, record_id in enumerate(list(self.etags)[: self.args.amend_clients])
        ]
        try:
            counts = await self._db_counts()
            await _amend_round(amenders, self.args.warmup)
            rounds = []
            cpu_ms = []
            for _ in range(self.args.rounds):
                meter = self.watch(self.vetchart)
                result = await _amend_round(amenders, self.args.seconds)
                cpu = self.measured(meter, int(result["requests"]))
                cpu_ms.append(self.last_cpu_ms)
                rounds.append(result)
                print(
                    f"    vetchart {_rps(result['rps']):>7s} req/s, p50 {_ms(result['p50_ms'])}"
                    f"; driver {result['driver_cpu']:.0%} of its core; {cpu}",
                    flush=True,
                )
            self.amendments = sum(a.sent for a in amenders)
            after = await self._db_counts()
        finally:
            for amender in amenders:
                await amender.aclose()
        kept = await self._kept([a.record_id for a in amenders])
        added = {k: after[k] - counts[k] for k in counts}
        return Outcome(
            vetchart=(median([r["rps"] for r in rounds]), median([r["p50_ms"] for r in rounds])),
            extra={
                "kept": kept and added["events"] == added["audit"] == added["outbox"],
                "added": added,
                "amendments": self.amendments,
                "driver_cpu": max(r["driver_cpu"] for r in rounds),
                "cpu_ms": {"vetchart": median(cpu_ms)},
            },
        )

    async def _db_counts(self) -> dict[str, int]:
        ids = [str(i) for i in self.ds.amend_record_ids]
        conn = await asyncpg.connect(self.db.dsn)
        try:
            return {
                "events": await conn.fetchval(
                    "SELECT count(*) FROM medical_record_events WHERE record_id::text = ANY($1)",
                    ids,
                ),
                "audit": await conn.fetchval(
                    "SELECT count(*) FROM audit_events WHERE action = 'medical_record.amend' "
                    "AND resource_id = ANY($1)",
                    ids,
                ),
                "outbox": await conn.fetchval(
                    "SELECT count(*) FROM outbox_events WHERE event_type = 'MedicalRecordAmended' "
                    "AND payload->>'record_id' = ANY($1)",
                    ids,
                ),
            }
        finally:
            await conn.close()

    async def _kept(self, record_ids: list[str]) -> bool:
        """Every amended record: its projection's version is its last event's, with one
        event per version."""
        conn = await asyncpg.connect(self.db.dsn)
        try:
            rows = await conn.fetch(
                "SELECT r.version, count(e.*) AS events, max(e.version) AS last "
                "FROM medical_records r JOIN medical_record_events e ON e.record_id = r.id "
                "WHERE r.id::text = ANY($1) GROUP BY r.id, r.version",
                record_ids,
            )
        finally:
            await conn.close()
        return len(rows) == len(record_ids) and all(
            r["version"] == r["events"] == r["last"] for r in rows
        )

    def run(self, keys: list[str]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for scenario in SCENARIOS:
            if scenario.key not in keys:
                continue
            self.renew_token()
            print(f"  {scenario.label}:", flush=True)
            harness.wait_quiet(
                self.vetchart.process.pid, self.db.postmaster_pid(), self.args.wait_quiet
            )
            if scenario.key in self.paths:
                outcomes[scenario.key] = self.read_scenario(scenario.key)
            elif scenario.key == "login":
                outcomes[scenario.key] = self.login_scenario()
            elif scenario.key == "reads_logins":
                outcomes[scenario.key] = self.reads_while_logins()
            elif scenario.key == "amend":
                outcomes[scenario.key] = asyncio.run(self._amend())
        return outcomes


def _medians(runs: list[WrkResult]) -> tuple[float, float]:
    return median([r.rps for r in runs]), median([r.p50_ms for r in runs])


# --------------------------------------------------------------------------- report


def table(outcomes: dict[str, Outcome]) -> list[str]:
    lines = [
        "| scenario | old backend req/s (p50) | vetchart req/s (p50) | floor req/s (p50) "
        "| vetchart/floor | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        outcome = outcomes.get(scenario.key)
        if outcome is None:
            continue
        if scenario.key == "reads_logins" and outcome.vetchart is not None:
            without = outcome.extra["without"]
            mine = (
                f"{_rps(outcome.vetchart[0])} ({_rps(without[0])} without logins; "
                f"{outcome.extra['slowdown']:.2f}{TIMES} slower)"
            )
        elif outcome.vetchart is not None:
            mine = f"{_rps(outcome.vetchart[0])} ({_ms(outcome.vetchart[1])})"
        else:
            mine = "—"
        floor = f"{_rps(outcome.floor[0])} ({_ms(outcome.floor[1])})" if outcome.floor else "—"
        ratio = f"{outcome.ratio:.0%}" if outcome.ratio is not None else "—"
        verdict = scenario.check(outcome)
        met = {True: "yes", False: "NO", None: "?"}[verdict]
        row = [scenario.label, scenario.old.text, mine, floor, ratio, scenario.target, met]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def cpu_table(outcomes: dict[str, Outcome]) -> list[str]:
    """Server CPU per request: steadier than req/s on a machine others use too."""
    lines = [
        "| scenario | vetchart CPU ms/request | floor CPU ms/request | vetchart/floor |",
        "|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        outcome = outcomes.get(scenario.key)
        cpu = outcome.extra.get("cpu_ms") if outcome else None
        if not cpu:
            continue
        mine, floor = cpu.get("vetchart"), cpu.get("floor")
        finite = mine is not None and floor is not None and math.isfinite(mine + floor)
        ratio = f"{mine / floor:.1f}{TIMES}" if finite and floor else "—"
        cells = [f"{v:.2f}" if v is not None else "—" for v in (mine, floor)]
        lines.append(f"| {scenario.label} | {cells[0]} | {cells[1]} | {ratio} |")
    return lines


def header(args: argparse.Namespace, ds: dataset.Dataset, load_seconds: float) -> list[str]:
    counts = ds.counts
    load = os.getloadavg()
    return [
        f"vetchart vs the floor (bench/compare.py), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- vetchart: {args.label or harness.source_revision(args.source)}",
        f"- data: 1 practice ({ds.timezone}), {counts['owners']:,} approved clients, "
        f"{counts['pets']:,} pets, one pet with {counts['big_pet_records']} records "
        f"({counts['records']} records in all), {counts['appointments_today']} appointments "
        f"today (and as many yesterday and tomorrow), {counts['follow_ups_due']} follow-ups "
        f"due; loaded (COPY of domain-built rows) in {load_seconds:.1f} s",
        "- servers pinned to CPU 0 (taskset -c 0), load generator on CPU 1; the embedded "
        "PostgreSQL is not pinned; vetchart: rate limiting off, log level WARNING, no "
        "in-process worker, dashboard cache as configured (default 15 s)",
        f"- wrk -t1, {args.connections} connections for reads, 4 for logins; amendments: "
        f"{args.amend_clients} asyncio clients (httpx), each on its own record with If-Match; "
        f"warm-up {args.warmup:g} s, then {args.rounds} interleaved rounds of "
        f"{args.seconds:g} s per server; medians of the rounds",
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores; the "
        "machine may be shared)",
    ]


DISTURBED_CORES = 0.25


def footer(outcomes: dict[str, Outcome], shares: list[CpuShare]) -> list[str]:
    notes = [f"- {OLD_NOTE}."]
    if shares:
        foreign = [s.foreign for s in shares]
        disturbed = sum(f > DISTURBED_CORES for f in foreign)
        notes.append(
            f"- other processes on the machine used {median(foreign):.2f} cores (median of "
            f"the {len(shares)} measured rounds, max {max(foreign):.2f}); {disturbed} "
            f"round(s) above {DISTURBED_CORES} cores: treat their figures with care"
        )
    amend = outcomes.get("amend")
    if amend is not None:
        added = amend.extra["added"]
        notes.append(
            f"- amendments: {amend.extra['amendments']} sent; added {added['events']} history "
            f"events, {added['audit']} audit rows, {added['outbox']} outbox events; history "
            f"consistent with the projection: {'yes' if amend.extra['kept'] else 'NO'}; the "
            f"driver used at most {amend.extra['driver_cpu']:.0%} of its core (not the "
            "bottleneck)"
        )
    reads = outcomes.get("reads_logins")
    if reads is not None:
        rps, p50 = reads.extra["logins"]
        notes.append(f"- logins during the reads: {_rps(rps)}/s, p50 {_ms(p50)}")
    return notes


async def _load(dsn: str) -> dataset.Dataset:
    conn = await asyncpg.connect(dsn)
    try:
        return await dataset.load_base(conn)
    finally:
        await conn.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and server")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, per server")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections, reads")
    parser.add_argument("--amend-clients", type=int, default=4)
    parser.add_argument("--only", help=f"comma-separated scenarios: {','.join(KEYS)}")
    parser.add_argument("--source", type=Path, help="serve from this checkout's src/")
    parser.add_argument("--out", type=Path, help="also write the table as markdown here")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each scenario, wait up to this long for other processes to use less "
        "than a quarter of a core (a shared machine)",
    )
    parser.add_argument(
        "--label",
        help="what is measured, for the report (default: the checkout and its git revision)",
    )
    args = parser.parse_args()
    args.keys = KEYS if not args.only else [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(args.keys) - set(KEYS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(KEYS)}")
    if args.source is not None:
        args.source = args.source.resolve()
        if not (args.source / "src" / "vetchart").is_dir():
            parser.error(f"{args.source}/src/vetchart does not exist")
    if not 1 <= args.amend_clients <= dataset.AMEND_RECORDS:
        parser.error(f"--amend-clients: 1 to {dataset.AMEND_RECORDS}")
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    harness.ensure_wrk()
    with harness.embedded_database("vetchart-compare-") as db:
        harness.pin_self(harness.LOAD_CPU)  # PostgreSQL is started (and stays unpinned)
        harness.migrate(db, args.source)
        load_started = time.perf_counter()
        ds = asyncio.run(_load(db.dsn))
        load_seconds = time.perf_counter() - load_started
        lines = header(args, ds, load_seconds)
        print("\n".join(lines), flush=True)
        vetchart = harness.start_vetchart(db, args.source)
        floor = None
        try:
            floor = harness.start_floor(db, str(ds.practice_id))
            comparison = Comparison(args, db, ds, vetchart, floor)
            comparison.verify(args.keys)
            print("measuring:", flush=True)
            outcomes = comparison.run(args.keys)
        except BaseException:
            for server in (vetchart, floor):
                if server is not None and server.log_tail():
                    print(f"--- the end of the {server.name} log:\n{server.log_tail()}")
            raise
        finally:
            for server in (vetchart, floor):
                if server is not None:
                    server.stop()
    report = ["", *table(outcomes), "", *footer(outcomes, comparison.shares)]
    report += ["", "Server CPU time per request (medians of the rounds):", ""]
    report += cpu_table(outcomes)
    report.append(f"- whole run: {time.perf_counter() - started:.0f} s")
    print("\n".join(report))
    if args.out is not None:
        args.out.write_text("\n".join([*lines, *report]) + "\n")
        print(f"(written to {args.out})")


if __name__ == "__main__":
    main()
