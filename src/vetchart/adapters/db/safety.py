"""Start-up safety checks against the database: run when it first answers (at start, or
later through the readiness probe when it was away at start).

- The application's login must be a plain role (adapters/db/privileges.py): in
  production a superuser, an owner or a member of other roles is refused; elsewhere it is
  a warning.
- The audit key must be the one the database's audit chain is keyed with: the first
  process to ask records the key's fingerprint (``audit_claim_key``, revision 0010), and
  a process with another key is refused in every environment: every audit row it wrote
  would fail verification.
"""

from __future__ import annotations

import hmac

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.privileges import login_privilege_problems
from vetchart.domain.audit import AuditKey

log = structlog.get_logger(__name__)

FINGERPRINT_PURPOSE = "audit-key-fingerprint"


def audit_key_fingerprint(key: AuditKey) -> bytes:
    """Names the key without revealing it (an HMAC under the key itself)."""
    return key.derived(FINGERPRINT_PURPOSE)


class StartupSafety:
    def __init__(self, engine: AsyncEngine, *, audit_key: AuditKey, production: bool) -> None:
        self._engine = engine
        self._fingerprint = audit_key_fingerprint(audit_key)
        self._production = production
        # None until checked against a database that answered.
        self.problems: list[str] | None = None

    async def check(self) -> list[str]:
        """The problems that must stop the process serving (empty: none); checked once.
        Raises when the database does not answer (then it is checked again next time)."""
        if self.problems is not None:
            return self.problems
        problems: list[str] = []
        login = await login_privilege_problems(self._engine)
        if login:
            message = "the application's database login " + ", ".join(login)
            if self._production:
                problems.append(
                    f"{message}; log in as the application role (VETCHART_DB_APP_ROLE, "
                    "created by `vetchart db upgrade`)"
                )
            else:
                log.warning("database.privileged_login", problems=login)
        async with self._engine.begin() as conn:
            stored = await conn.scalar(
                text("SELECT audit_claim_key(:fingerprint)"), {"fingerprint": self._fingerprint}
            )
        if stored is not None and not hmac.compare_digest(bytes(stored), self._fingerprint):
            problems.append(
                "VETCHART_AUDIT_KEY is not the key this database's audit chain is keyed with "
                "(its fingerprint differs): every audit row written would fail verification"
            )
        for problem in problems:
            log.error("startup.unsafe", problem=problem)
        self.problems = problems
        return problems
