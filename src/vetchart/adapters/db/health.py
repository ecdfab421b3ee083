"""Readiness checks: the database answers, and its schema is one this code serves on.

That is the migration head, or (during a zero-downtime rollout, docs/operations.md) a
schema behind it by contract revisions only (``migrate.serving_revisions``), or ahead of it
by expand revisions only, which the database lists in ``schema_compatibility``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.migrate import serving_revisions
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
        self,
        engine: AsyncEngine,
        *,
        read_retries: int,
        safety: StartupSafety | None = None,
        serving: frozenset[str] | None = None,
    ) -> None:
        """``serving``: the revisions this code serves on (tests pass an older code's)."""
        self._engine = engine
        self._read_retries = read_retries
        self._serving = serving if serving is not None else serving_revisions()
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
        revision, expands = current
        if revision is not None and revision in self._serving:
            results.append(CheckResult("migrations", True, "at head"))
        elif revision is not None and self._ahead_by_expands(revision, expands):
            results.append(CheckResult("migrations", True, "ahead by expand migrations"))
        else:
            log.warning(
                "readiness.schema_not_at_head",
                current=revision,
                serving=sorted(self._serving),
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

    def _ahead_by_expands(self, revision: str, expands: dict[str, str]) -> bool:
        """Whether only declared expand revisions lead from a revision served here up to
        ``revision`` (unknown to this code)."""
        seen: set[str] = set()
        while revision not in self._serving:
            if revision in seen or revision not in expands:
                return False
            seen.add(revision)
            revision = expands[revision]
        return True

    async def _current_revisions(self) -> tuple[str | None, dict[str, str]]:
        """The database's revision (None: none, or several) and its expand revisions
        (each to the revision before it)."""
        async with self._engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT to_regclass('alembic_version') IS NOT NULL,"
                    " to_regclass('schema_compatibility') IS NOT NULL"
                )
            )
            versions, compatibility = found.one()
            if not versions:
                return None, {}
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            revision = rows[0][0] if len(rows) == 1 else None
            if not compatibility:
                return revision, {}
            expands = await conn.execute(
                text(
                    "SELECT revision, down_revision FROM schema_compatibility WHERE kind = 'expand'"
                )
            )
            return revision, {row[0]: row[1] for row in expands}
