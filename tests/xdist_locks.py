"""What pytest-xdist workers of one run share: a folder, and file locks in it.

``WORKER`` is this process's xdist worker id (``gw0``, ``gw1``...; ``main`` without
xdist). ``run_folder()`` is a folder all workers of this run see (named after the run's
id, removed by the controller at the end); without xdist it is None and nothing needs
locking.

The PostgreSQL cluster is shared by the workers, and so are its roles: a test that alters
the application role (``vetchart_app``, cluster-wide) would make another worker's
logins fail meanwhile. Such tests are marked ``cluster_role``: each one runs holding the
cluster lock exclusively while every other test holds it shared (a readers-writer lock on
``flock``; a waiting exclusive test stops new shared holders, so it is not starved).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_WORKER_COUNT = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def shared_folder(run_id: str, *, create: bool = True) -> Path:
    """The folder all workers of the xdist run ``run_id`` share."""
    folder = Path(tempfile.gettempdir()) / f"vetchart-test-{run_id}"
    if create:
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def run_folder() -> Path | None:
    """This worker's run's shared folder (made on first use), or None without xdist."""
    return None if _RUN_ID is None else shared_folder(_RUN_ID)


@contextmanager
def _flock(path: Path, operation: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Held by one worker of the run at a time (a no-op without xdist)."""
    folder = run_folder()
    if folder is None:
        yield
        return
    with _flock(folder / f"{name}.lock", fcntl.LOCK_EX):
        yield


@contextmanager
def cluster(*, alone: bool) -> Iterator[None]:
    """Around one test: ``alone`` (a ``cluster_role`` test) holds the cluster lock
    exclusively, any other test shared. A no-op without several workers."""
    folder = run_folder()
    if folder is None or _WORKER_COUNT < 2:
        yield
        return
    turnstile = folder / "cluster-turnstile.lock"
    lock = folder / "cluster.lock"
    if alone:
        with _flock(turnstile, fcntl.LOCK_EX), _flock(lock, fcntl.LOCK_EX):
            yield
        return
    with _flock(turnstile, fcntl.LOCK_EX):
        pass  # waits while an exclusive test is queued or running
    with _flock(lock, fcntl.LOCK_SH):
        yield
