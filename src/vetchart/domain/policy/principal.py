"""Who is calling: the principal every policy question is asked about."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from vetchart.domain.users import Role


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as established from a verified token and its session."""

    user_id: UUID
    role: Role
    practice_id: UUID | None
    session_id: UUID
    mfa_enabled: bool
    full_name: str = ""
