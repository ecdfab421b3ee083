"""Fresh test databases without waiting for them: copies of the migrated template made
ahead, and dropped behind, by a background thread.

A test that asks for ``database_url`` takes a database that was copied from the template
(CREATE DATABASE ... TEMPLATE) while the previous test ran, and gives it back to be
dropped (WITH (FORCE)) while the next one runs. Every database is still used by one test
only and starts at migration head with no rows of another test: the template is never
written after it is migrated.

The thread has its own connection (psycopg, autocommit) to the maintenance database; the
names carry the pytest-xdist worker id, so workers sharing one server never collide.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections import deque

import psycopg

from vetchart.adapters.db.engine import libpq_url

# Copies kept ready. One is enough: a test takes it, the next one is made while it runs.
READY = 1
# How long a test waits for its copy before the suite fails (not skips) naming the cause.
TAKE_TIMEOUT_SECONDS = 120.0


class DatabasePool:
    """Copies of ``template`` on the server of ``server_url``, named ``{prefix}_<hex>``."""

    def __init__(self, server_url: str, template: str, prefix: str) -> None:
        self._dsn = libpq_url(server_url)
        self._template = template
        self._prefix = prefix
        self._ready: queue.Queue[str] = queue.Queue()
        self._doomed: deque[str] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-database-pool", daemon=True)
        self._thread.start()

    def take(self) -> str:
        """The name of a fresh copy of the template (blocks until one is ready)."""
        waited = 0.0
        while True:
            try:
                name = self._ready.get(timeout=0.5)
            except queue.Empty:
                waited += 0.5
                if self._error is not None or not self._thread.is_alive():
                    raise RuntimeError("the test database pool stopped") from self._error
                if waited >= TAKE_TIMEOUT_SECONDS:
                    raise TimeoutError(
                        f"no test database within {TAKE_TIMEOUT_SECONDS:.0f}s"
                    ) from None
                continue
            with self._wake:
                self._wake.notify()  # make the next one
            return name

    def discard(self, name: str) -> None:
        """``name`` was used: drop it in the background."""
        with self._wake:
            self._doomed.append(name)
            self._wake.notify()

    def close(self) -> None:
        """Stop the thread; drop every copy made or handed back."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout=60)
        leftovers = list(self._doomed)
        while not self._ready.empty():
            leftovers.append(self._ready.get_nowait())
        if leftovers:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                for name in leftovers:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _next_job(self) -> tuple[str, str] | None:
        """("create", name) or ("drop", name), or None when closing; waits for work.
        Making the next copy comes first: a test may be waiting for it."""
        with self._wake:
            while True:
                if self._closing:
                    return None
                if self._ready.qsize() < READY:
                    return "create", f"{self._prefix}_{uuid.uuid4().hex[:12]}"
                if self._doomed:
                    return "drop", self._doomed.popleft()
                self._wake.wait()

    def _run(self) -> None:
        try:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                while (job := self._next_job()) is not None:
                    action, name = job
                    if action == "create":
                        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
                        self._ready.put(name)
                    else:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except BaseException as error:
            self._error = error
            raise
