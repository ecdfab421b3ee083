"""Identity ports: users, practices and invitations, sessions and refresh tokens, sign-in
throttles and recovery codes (repositories), the users' read side, and the security
services (password hashing, tokens, TOTP, the principal cache)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.invitations import InvitationStatus
from vetchart.domain.policy import Principal
from vetchart.domain.practices import Practice
from vetchart.domain.sessions import SessionRecord
from vetchart.domain.throttle import ThrottleState
from vetchart.domain.users import Role, User
from vetchart.services.ports.paging import Page, PageRequest

# --------------------------------------------------------------------------- users and practices


class UserRepository(Protocol):
    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def add(self, user: User) -> None:
        """Insert; raises ``Conflict`` when the email is taken."""
        ...

    async def save(self, user: User) -> None: ...


class PracticeRepository(Protocol):
    async def get(self, practice_id: UUID, *, for_update: bool = False) -> Practice | None: ...
    async def get_by_name(self, name: str) -> Practice | None: ...
    async def add(self, practice: Practice) -> None:
        """Insert; ``Conflict`` when the license number is taken."""
        ...

    async def save(self, practice: Practice) -> None:
        """Update; ``Conflict`` when the license number is taken."""
        ...


@dataclass(frozen=True)
class Invitation:
    id: UUID
    practice_id: UUID
    email: str
    role: Role
    token_hash: bytes
    invited_by: UUID
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_user_id: UUID | None = None
    revoked_at: datetime | None = None
    revoked_by: UUID | None = None


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...
    async def get_by_token_hash(self, token_hash: bytes) -> Invitation | None:
        """Row-locked for this transaction (single use under concurrency)."""
        ...

    async def mark_accepted(self, invitation_id: UUID, user_id: UUID, now: datetime) -> None: ...
    async def get(self, invitation_id: UUID, *, for_update: bool = False) -> Invitation | None: ...
    async def mark_revoked(self, invitation_id: UUID, actor_id: UUID, now: datetime) -> None: ...


@dataclass(frozen=True)
class UserFilters:
    practice_id: UUID | None = None
    role: Role | None = None
    q: str | None = None


class UserQueries(Protocol):
    async def users_page(
        self, scope_practice_id: UUID | None, filters: UserFilters, page: PageRequest
    ) -> Page[User]:
        """Users ordered by (full_name, id), after the keyset ``page.after``."""
        ...

    async def invitations_page(
        self,
        practice_id: UUID,
        status: InvitationStatus | None,
        now: datetime,
        page: PageRequest,
    ) -> Page[Invitation]:
        """A practice's invitations newest first by (created_at, id), in ``status`` as of
        ``now`` (None: every one)."""
        ...


# --------------------------------------------------------------------------- sessions and sign-in


class SessionRepository(Protocol):
    async def add(self, session: SessionRecord) -> None: ...
    async def get(self, session_id: UUID, *, for_update: bool = False) -> SessionRecord | None: ...
    async def touch(self, session_id: UUID, now: datetime) -> None: ...
    async def revoke(self, session_id: UUID, now: datetime, reason: str) -> bool: ...
    async def revoke_all(
        self, user_id: UUID, now: datetime, reason: str, *, keep: UUID | None = None
    ) -> list[UUID]: ...
    async def list_active(self, user_id: UUID, now: datetime) -> list[SessionRecord]: ...
    async def add_refresh_token(
        self, token_id: UUID, session_id: UUID, token_hash: bytes, now: datetime
    ) -> None: ...
    async def spend_refresh_token(self, token_hash: bytes, now: datetime) -> SpentToken: ...
    async def principal(self, session_id: UUID, user_id: UUID) -> SessionPrincipal | None:
        """The session joined with its user, for authentication."""
        ...


class RefreshTokenState(enum.Enum):
    SPENT_NOW = "spent_now"  # this call spent it: the caller may rotate
    ALREADY_SPENT = "already_spent"  # reuse: the family must be revoked
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SpentToken:
    state: RefreshTokenState
    session_id: UUID | None


@dataclass(frozen=True)
class SessionPrincipal:
    session: SessionRecord
    user: User


class ThrottleRepository(Protocol):
    async def lock(self, key: str, now: datetime) -> ThrottleState:
        """The state for ``key``, row-locked for this transaction (created if absent)."""
        ...

    async def peek(self, key: str) -> ThrottleState | None: ...
    async def save(self, state: ThrottleState, now: datetime) -> None: ...
    async def clear(self, key: str) -> None: ...
    async def clear_many(self, keys: Sequence[str], prefixes: Sequence[str]) -> int:
        """Delete these keys and every key starting with one of the prefixes; how many."""
        ...

    async def purge_idle(self, idle_before: datetime, now: datetime) -> int:
        """Delete keys untouched since ``idle_before`` and not locked at ``now``; how many."""
        ...


class RecoveryCodeRepository(Protocol):
    async def replace(self, user_id: UUID, code_hashes: Sequence[bytes], now: datetime) -> None: ...
    async def use(self, user_id: UUID, code_hash: bytes, now: datetime) -> bool:
        """Spend an unused code atomically; False when unknown or already used."""
        ...

    async def clear(self, user_id: UUID) -> None: ...


# --------------------------------------------------------------------------- security


class PasswordHasher(Protocol):
    """Slow, salted password hashing. Every method that hashes may raise ``Unavailable``
    when too many hashes are already waiting (the request is shed, not queued forever)."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification (unknown users: no timing oracle)."""
        ...


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    role: str
    jti: str


@dataclass(frozen=True)
class MfaClaims:
    user_id: UUID
    jti: str


class TokenService(Protocol):
    def issue_access(self, user: User, session_id: UUID, now: datetime) -> IssuedToken: ...
    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        """Raises ``Unauthenticated`` for anything but a valid access token."""
        ...

    def issue_mfa(self, user_id: UUID, now: datetime) -> IssuedToken: ...
    def verify_mfa(self, token: str, now: datetime) -> MfaClaims: ...


class Totp(Protocol):
    def new_secret(self) -> str: ...
    def provisioning_uri(self, secret: str, account: str) -> str: ...
    def matching_timestep(self, secret: str, code: str, now: datetime) -> int | None:
        """The time step the code is valid for (allowing one step of drift), or None."""
        ...


class PrincipalCache(Protocol):
    """A few seconds of memory for authenticated sessions; invalidated on revoke.
    ``generation`` moves on every invalidation: read it before a look-up and pass it to
    ``put`` so a principal looked up before a revocation is not remembered after it."""

    @property
    def generation(self) -> int: ...
    def get(self, session_id: UUID) -> Principal | None: ...
    def put(self, principal: Principal, *, looked_up_at: int | None = None) -> None: ...
    def invalidate(self, session_ids: Sequence[UUID]) -> None: ...


class SessionBroadcast(Protocol):
    """Tells every other process that these sessions' principals are stale, so each
    forgets them at once (adapters/security/revocation.py: Redis pub/sub). A failed
    publish is logged, not raised: the principal cache's few seconds still bound it."""

    async def publish(self, session_ids: Sequence[UUID]) -> None: ...
