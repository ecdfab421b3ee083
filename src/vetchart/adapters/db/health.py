"""Readiness checks: the database answers, and its schema is at the migration head."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.migrate import head_revisions
from vetchart.adapters.db.resilience import retry_idempotent_read
from vetchart.adapters.db.safety import StartupSafety

CHECK_TIMEOUT_SECONDS = 2.0

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


class DatabaseReadiness:
    def __init__(
        self, engine: AsyncEngine, *, read_retries: int, safety: StartupSafety | None = None
    ) -> None:
        self._engine = engine
        self._read_retries = read_retries
        self._heads = head_revisions()
        self._safety = safety

    async def check(self) -> list[CheckResult]:
        try:
            current = await asyncio.wait_for(
                retry_idempotent_read(self._current_revisions, retries=self._read_retries),
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        except Exception as error:  # any failure means "not ready"; the name is enough
            log.warning("readiness.database_unreachable", error=type(error).__name__)
            return [
                CheckResult("database", False, "unreachable"),
                CheckResult("migrations", False, "unknown: database unreachable"),
            ]
        results = [CheckResult("database", True, "ok")]
        if current == self._heads:
            results.append(CheckResult("migrations", True, "at head"))
        else:
            log.warning(
                "readiness.schema_not_at_head", current=sorted(current), heads=sorted(self._heads)
            )
            results.append(CheckResult("migrations", False, "schema is not at the migration head"))
            return results
        unsafe = await self._safety_failure()
        if unsafe is not None:
            results.append(unsafe)
        return results

    async def _safety_failure(self) -> CheckResult | None:
        """The start-up safety checks (adapters/db/safety.py), once the schema is there:
        a process that started while the database was away is checked now, and never
        becomes ready if it must not serve (a failing "configuration" check; it is listed
        only when it fails). The details stay in the log."""
        if self._safety is None:
            return None
        try:
            problems = await asyncio.wait_for(self._safety.check(), CHECK_TIMEOUT_SECONDS)
        except Exception as error:
            log.warning("readiness.safety_check_failed", error=type(error).__name__)
            return CheckResult("configuration", False, "not checked yet")
        if problems:
            return CheckResult("configuration", False, "unsafe configuration: see the log")
        return None

    async def _current_revisions(self) -> set[str]:
        async with self._engine.connect() as conn:
            exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            if not exists:
                return set()
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return {row[0] for row in rows}
