"""What the comparison and the scale run share: a fresh embedded PostgreSQL in a temporary
folder, the servers under test (a real ``vetchart serve``, optionally from another
checkout's source, and the floor app), pinned to CPU 0, and the load generator (wrk, pinned
to CPU 1) with its output parsed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from vetchart.adapters.db.embedded import EmbeddedPostgres
from vetchart.adapters.db.engine import libpq_url

SERVER_CPU = "0"
LOAD_CPU = "1"
READY_SECONDS = 90.0
API = "/api/v1"
# How the CLI is started (from another checkout's source: with PYTHONPATH=<dir>/src).
CLI_FROM_SOURCE = "import sys; from vetchart.entrypoints.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tool(name: str) -> str:
    """The absolute path of a command-line tool."""
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (needed by the benchmark)")
    return found


def pin_self(cpu: str) -> None:
    """Pin this process (and what it starts later without taskset) to one CPU."""
    os.sched_setaffinity(0, {int(cpu)})


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get ...", flush=True)
    try:
        subprocess.run([tool("apt-get"), "install", "-y", "wrk"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(
            f"wrk is not installed and `apt-get install -y wrk` failed ({error}); "
            "install wrk (https://github.com/wg/wrk) and run again"
        ) from None
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still not on PATH after apt-get install; install it by hand")
    return found


def source_revision(source: Path | None) -> str:
    where = source or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            [tool("git"), "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [tool("git"), "-C", str(where), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{where} (not a git checkout)"
    return f"{where} @ {rev}" + (" + uncommitted changes in src/" if dirty else "")


# --------------------------------------------------------------------------- database


@dataclass
class Database:
    data_dir: Path
    dsn: str  # postgresql://... for asyncpg (unix socket of the embedded server)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@contextmanager
def embedded_database(prefix: str = "vetchart-bench-") -> Iterator[Database]:
    """A fresh embedded PostgreSQL in a temporary folder; stopped and removed afterwards.
    This process holds a handle, so the servers started later join the same server."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    server = EmbeddedPostgres(data_dir / "pgdata")
    try:
        server.start()
        yield Database(data_dir=data_dir, dsn=libpq_url(server.url()))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def vetchart_env(data_dir: Path, port: int, source: Path | None) -> dict[str, str]:
    env = {
        **os.environ,
        "VETCHART_DATA_DIR": str(data_dir),
        "VETCHART_HOST": "127.0.0.1",
        "VETCHART_PORT": str(port),
        "VETCHART_LOG_LEVEL": "WARNING",
        "VETCHART_RATE_LIMIT_ENABLED": "false",
        # One token for a whole scenario (it is also renewed before each scenario).
        "VETCHART_ACCESS_TOKEN_TTL_SECONDS": "3600",
        # Production runs its workers beside the API, not inside it.
        "VETCHART_EMBEDDED_WORKER": "false",
    }
    for name in ("DATABASE_URL", "READ_DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(source / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    return env


def vetchart_command(source: Path | None, *args: str) -> list[str]:
    """The CLI, as ``python -c``: the same code as the ``vetchart`` script (from
    ``source``'s ``src/`` when given, through PYTHONPATH), under a command line that a
    ``pkill -f "vetchart serve"`` aimed at someone else's server does not match."""
    return [sys.executable, "-c", CLI_FROM_SOURCE, *args]


def migrate(db: Database, source: Path | None) -> None:
    """`vetchart db upgrade` of the checkout being measured (its own migrations)."""
    result = subprocess.run(
        vetchart_command(source, "db", "upgrade"),
        env=vetchart_env(db.data_dir, free_port(), source),
        cwd=db.data_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"vetchart db upgrade failed:\n{result.stdout}\n{result.stderr}")


# --------------------------------------------------------------------------- servers


class Server:
    """A server process pinned to SERVER_CPU; its output goes to a log file."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.port = int(env.get("BENCH_PORT", "0"))
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [tool("taskset"), "-c", SERVER_CPU, *command],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{self.name} did not become ready; its log ends with:\n{tail}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (from /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_vetchart(db: Database, source: Path | None) -> Server:
    port = free_port()
    env = {**vetchart_env(db.data_dir, port, source), "BENCH_PORT": str(port)}
    server = Server("vetchart", vetchart_command(source, "serve"), env, db.data_dir)
    server.wait_ready()
    return server


def start_floor(db: Database, practice_id: str) -> Server:
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "BENCH_PORT": str(port),
        "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    command = [sys.executable, "-m", "bench.floor", "--dsn", db.dsn, "--port", str(port)]
    server = Server("floor", [*command, "--practice-id", practice_id], env, db.data_dir)
    server.wait_ready()
    return server


def login(base: str, email: str, password: str) -> str:
    response = httpx.post(
        f"{base}{API}/auth/token", data={"username": email, "password": password}, timeout=30
    )
    if response.status_code != 200:
        raise SystemExit(f"login as {email} failed: {response.status_code} {response.text}")
    body = response.json()
    if "access_token" not in body:
        raise SystemExit(f"login as {email} did not return a token (MFA?): {body}")
    return str(body["access_token"])


# --------------------------------------------------------------------------- CPU


def _tree_cpu(pid: int | None) -> dict[tuple[int, float], float]:
    """CPU seconds (user + system) of a process and each of its live descendants, by
    (pid, start time): a process that starts during a measurement counts from zero, one
    that ends during it is left out (rather than subtracted)."""
    if pid is None:
        return {}
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    found: dict[tuple[int, float], float] = {}
    for process in processes:
        try:
            with process.oneshot():
                times = process.cpu_times()
                found[(process.pid, process.create_time())] = times.user + times.system
        except psutil.Error:
            continue
    return found


def _tree_delta(
    start: dict[tuple[int, float], float], end: dict[tuple[int, float], float]
) -> float:
    return sum(seconds - start.get(key, 0.0) for key, seconds in end.items())


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all CPUs; idle and iowait excluded)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class CpuShare:
    """Where the CPU went during a measurement, in cores (1.0 = one CPU busy throughout)."""

    server: float  # the server under test and its child processes (pinned to CPU 0)
    postgres: float  # the embedded PostgreSQL (all its processes)
    bench: float  # this process and the load generators it ran
    foreign: float  # everything else on the machine: other people's work
    wall: float  # seconds

    def server_ms_per_request(self, requests: int) -> float:
        """CPU milliseconds the server spent per request: unlike req/s, it hardly moves
        when other processes take CPU time from the server."""
        return self.server * self.wall * 1000 / requests if requests else float("inf")

    def text(self) -> str:
        return (
            f"CPU: server {self.server:.2f}, postgres {self.postgres:.2f}, load generator "
            f"{self.bench:.2f}, other processes {self.foreign:.2f} cores"
        )


class CpuWatch:
    """Samples the CPU use of the server, PostgreSQL, the benchmark and the rest."""

    def __init__(self, server_pid: int, postgres_pid: int | None) -> None:
        self.server_pid = server_pid
        self.postgres_pid = postgres_pid
        self._start: tuple[Any, ...] | None = None

    def _sample(self) -> tuple[Any, ...]:
        return (
            time.perf_counter(),
            _tree_cpu(self.server_pid),
            _tree_cpu(self.postgres_pid),
            _self_cpu(),
            _machine_busy(),
        )

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> CpuShare:
        assert self._start is not None
        wall0, server0, postgres0, bench0, busy0 = self._start
        wall1, server1, postgres1, bench1, busy1 = self._sample()
        wall = max(wall1 - wall0, 1e-9)
        server = _tree_delta(server0, server1)
        postgres = _tree_delta(postgres0, postgres1)
        bench = bench1 - bench0
        foreign = max(0.0, busy1 - busy0 - server - postgres - bench)
        return CpuShare(server / wall, postgres / wall, bench / wall, foreign / wall, wall)


def wait_quiet(
    server_pid: int, postgres_pid: int | None, max_seconds: float, threshold: float = 0.25
) -> float:
    """Wait (at most ``max_seconds``) until other processes use less than ``threshold``
    cores over one second; returns the last level seen (0 when not asked to wait)."""
    if max_seconds <= 0:
        return 0.0
    deadline = time.monotonic() + max_seconds
    waited = False
    while True:
        watch = CpuWatch(server_pid, postgres_pid)
        watch.start()
        time.sleep(1.0)
        foreign = watch.stop().foreign
        if foreign < threshold or time.monotonic() >= deadline:
            if waited:
                print(f"    (waited for a quieter machine: other processes {foreign:.2f} cores)")
            return foreign
        waited = True


# --------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    output: str


def _ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if rps is None or total is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    requests = int(total.group(1))
    # No answer within the run: no latency to report (not 0 ms, which wrk prints).
    none = float("inf") if requests == 0 else None
    return WrkResult(
        requests=requests,
        rps=float(rps.group(1)),
        p50_ms=none or _ms(output, "50%"),
        p90_ms=none or _ms(output, "90%"),
        p99_ms=none or _ms(output, "99%"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        output=output,
    )


def wrk_command(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> list[str]:
    command = [tool("taskset"), "-c", LOAD_CPU, tool("wrk"), "-t1", f"-c{connections}"]
    command += [f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "30s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> WrkResult:
    command = wrk_command(
        url, connections=connections, seconds=seconds, headers=headers, script=script
    )
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


def login_script(directory: Path, email: str, password: str) -> Path:
    """A wrk Lua script that POSTs the OAuth2 password form."""
    path = directory / "login.lua"
    body = httpx.QueryParams({"username": email, "password": password})
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )
    return path


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
