"""Who is calling: the principal every policy question is asked about."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from vetchart.domain.users import Role


@dataclass(frozen=True)
class ApiKeyGrant:
    """What an API key brings to a principal (domain/api_keys.py): the key, who made it,
    the actions it is scoped to (``policy.Action`` values) and what authentication needs
    to trust a remembered principal again (its expiry, its secret's digest)."""

    id: UUID
    created_by: UUID
    scopes: frozenset[str]
    expires_at: datetime | None = None
    secret_hash: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as established from a verified token and its session,
    or from an API key (``api_key`` set: then ``session_id`` is the key's id, ``user_id``
    the PRACTICE_ADMIN who made it, and the role PRACTICE_ADMIN, limited to the key's
    scopes by ``policy.require``)."""

    user_id: UUID
    role: Role
    practice_id: UUID | None
    session_id: UUID
    mfa_enabled: bool
    full_name: str = ""
    api_key: ApiKeyGrant | None = None

    @property
    def api_key_id(self) -> UUID | None:
        return None if self.api_key is None else self.api_key.id

    @property
    def scopes(self) -> frozenset[str] | None:
        """The actions an API key may do (None: a person, limited by their role only)."""
        return None if self.api_key is None else self.api_key.scopes
