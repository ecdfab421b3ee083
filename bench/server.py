"""A real `vetchart serve` for a benchmark: fresh embedded PostgreSQL in a temporary folder,
migrated and seeded with the demo data, stopped (and the folder removed) afterwards."""

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
from contextlib import contextmanager
from pathlib import Path

import httpx

READY_POLLS = 120
READY_POLL_SECONDS = 0.5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo_server() -> Iterator[str]:
    """The base URL of a ready server on a free loopback port."""
    vetchart = str(Path(sys.executable).parent / "vetchart")
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
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([vetchart, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([vetchart, "demo", "seed"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [vetchart, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(READY_POLLS):
            try:
                if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(READY_POLL_SECONDS)
        else:
            raise SystemExit("server did not become ready")
        yield base
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
