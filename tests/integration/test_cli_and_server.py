"""The ``vetchart`` command line, and ``make run`` end to end on the embedded PostgreSQL.

The smoke tests run the console script of this virtualenv in child processes, with
``DATABASE_URL`` unset so each one uses the embedded PostgreSQL of a fresh data folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from vetchart.adapters.db import migrate
from vetchart.entrypoints.cli import app

VETCHART = Path(sys.executable).parent / "vetchart"
COMMAND_TIMEOUT_SECONDS = 90
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
POLL_INTERVAL_SECONDS = 0.5

# --- help -------------------------------------------------------------------------------

HELP_CASES = [
    (["--help"], ["serve", "db", "demo"]),
    (["db", "--help"], ["upgrade", "downgrade", "current"]),
    (["demo", "--help"], ["seed"]),
    (["serve", "--help"], ["--host", "--port"]),
    (["db", "upgrade", "--help"], ["REVISION"]),
    (["db", "downgrade", "--help"], ["REVISION"]),
    (["db", "current", "--help"], ["--verbose"]),
    (["demo", "seed", "--help"], ["production"]),
]


@pytest.mark.parametrize(
    ("args", "expected"), HELP_CASES, ids=[" ".join(args) for args, _ in HELP_CASES]
)
def test_help(args: list[str], expected: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output


def test_the_console_script_is_installed_in_this_virtualenv() -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(VETCHART), "--help"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


# --- processes --------------------------------------------------------------------------


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh VETCHART_DATA_DIR.

    Deliberately not under pytest's tmp_path: run as root, the embedded server runs as a
    separate system user, and every pytest session that starts resets pytest's temp root
    (/tmp/pytest-of-<user>) to mode 0700, locking that user out of its data folder (seen:
    initdb failing with "Permission denied" while another test session started).
    """
    folder = Path(tempfile.mkdtemp(prefix="vetchart-smoke-"))
    try:
        yield folder / "data"
    finally:
        _stop_leftover_postgres(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(data_dir: Path, port: int | None = None) -> dict[str, str]:
    """The environment of a developer who just cloned the project: no database configured."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VETCHART_")
        and key not in {"DATABASE_URL", "TEST_DATABASE_URL", "READ_DATABASE_URL", "REDIS_URL"}
    }
    env["VETCHART_DATA_DIR"] = str(data_dir)
    env["VETCHART_HOST"] = "127.0.0.1"
    env["VETCHART_LOG_LEVEL"] = "INFO"
    if port is not None:
        env["VETCHART_PORT"] = str(port)
    return env


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(VETCHART), *args],
        env=env,
        cwd=cwd,  # no stray .env file from the repository is read
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def postgres_processes(folder: Path) -> list[psutil.Process]:
    """Running ``postgres`` processes whose command line names a path inside ``folder``."""
    marker = str(folder.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            name = proc.info["name"] or ""
            cmdline = proc.info["cmdline"] or []
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if name == "postgres" and any(marker in part for part in cmdline):
            found.append(proc)
    return found


def _stop_leftover_postgres(folder: Path) -> None:
    """Clean-up after a failed test: stop a server of that folder still running."""
    for proc in postgres_processes(folder):
        try:
            proc.terminate()
            proc.wait(10)
        except psutil.NoSuchProcess:
            continue
        except psutil.TimeoutExpired:
            proc.kill()


def wait_until_stopped(folder: Path, timeout: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := postgres_processes(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


class Server:
    """``vetchart serve`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = cwd / "serve.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(VETCHART), "serve"],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, path: str, status: int, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Poll ``path`` until it answers ``status``: bounded in time and in requests."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(
                        f"vetchart serve exited with {self.process.returncode}:\n{self.output()}"
                    )
                try:
                    response = client.get(path)
                    if response.status_code == status:
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.TransportError as error:
                    last = repr(error)
                time.sleep(POLL_INTERVAL_SECONDS)
        pytest.fail(f"{path} did not answer {status} in {timeout}s ({last}):\n{self.output()}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", timeout=10)

    def interrupt(self) -> int:
        """Ctrl-C, as in a terminal; the exit code once it has stopped."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"vetchart serve did not stop on SIGINT:\n{self.output()}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._log.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def test_make_run_from_a_fresh_data_folder(data_dir: Path, servers: list[Server]) -> None:
    """`make run`: db upgrade, demo seed, serve; ready; Ctrl-C stops the embedded server."""
    port = _free_port()
    env = child_env(data_dir, port)
    cwd = data_dir.parent
    pgdata = data_dir / "pgdata"

    upgraded = run_cli("db", "upgrade", env=env, cwd=cwd)
    assert upgraded.returncode == 0, upgraded.stderr + upgraded.stdout
    assert "database upgraded to head" in upgraded.stdout
    assert (pgdata / "PG_VERSION").exists(), "the embedded server was not created there"
    # The command was the only user of the embedded server: it stopped on the way out.
    assert wait_until_stopped(pgdata) == []

    seeded = run_cli("demo", "seed", env=env, cwd=cwd)
    assert seeded.returncode == 0, seeded.stderr + seeded.stdout
    assert wait_until_stopped(pgdata) == []

    server = Server(env, cwd, port)
    servers.append(server)
    server.wait_for("/health/ready", 200)
    ready = server.get("/health/ready").json()
    assert {check["name"]: check["ok"] for check in ready["checks"]} == {
        "database": True,
        "migrations": True,
    }
    assert postgres_processes(pgdata), "serve is not using the data folder's embedded server"

    exit_code = server.interrupt()
    output = server.output()
    # 130 (128 + SIGINT) is how typer ends on Ctrl-C; 0 would be a quiet exit as well.
    assert exit_code in (0, 130), output
    assert "Traceback" not in output, output
    assert wait_until_stopped(pgdata) == [], "the embedded PostgreSQL outlived vetchart serve"
    assert not (pgdata / "postmaster.pid").exists()


def test_two_processes_share_one_embedded_database(data_dir: Path, servers: list[Server]) -> None:
    """`vetchart serve` in one shell, `vetchart db ...` in another: one server, both work."""
    port = _free_port()
    env = child_env(data_dir, port)
    cwd = data_dir.parent
    pgdata = data_dir / "pgdata"
    heads = migrate.head_revisions()

    server = Server(env, cwd, port)
    servers.append(server)
    server.wait_for("/health/live", 200)
    # Up, but the fresh database has no schema yet: not ready.
    not_ready = server.get("/health/ready")
    assert not_ready.status_code == 503, not_ready.text
    (postmaster,) = postgres_processes(pgdata)  # backends rename themselves; one match

    upgraded = run_cli("db", "upgrade", env=env, cwd=cwd)
    assert upgraded.returncode == 0, upgraded.stderr + upgraded.stdout

    current = run_cli("db", "current", env=env, cwd=cwd)
    assert current.returncode == 0, current.stderr + current.stdout
    for head in heads:
        assert f"{head} (head)" in current.stdout, current.stdout + current.stderr

    # The other commands joined the server and left it running for `serve`.
    assert postmaster.is_running(), "a second process stopped the shared embedded server"
    server.wait_for("/health/ready", 200, timeout=15)
    assert server.process.poll() is None

    server.interrupt()
    assert wait_until_stopped(pgdata) == [], "the embedded PostgreSQL outlived vetchart serve"
