"""Audit entries: what happened, by whom, to what, with what outcome.

The audit issue adds tamper evidence and the read API; the entry shape and the single
place that writes entries (``uow.audit.record``) are fixed here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True)
class RequestMeta:
    """Who is on the other end of this use case: for the audit row and session records."""

    request_id: str | None = None
    client_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    action: str
    resource_type: str
    resource_id: str | None
    outcome: Outcome
    actor_id: UUID | None = None
    actor_role: str | None = None
    practice_id: UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)
