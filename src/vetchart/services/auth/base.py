"""What every part of the authentication use cases shares: their configuration, their
collaborators (``AuthBase``, the state of ``AuthService``), the digest of refresh tokens
and recovery codes, and how an auth event becomes an audit entry."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from vetchart.domain import passwords
from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.policy import Principal
from vetchart.domain.sessions import SessionPolicy
from vetchart.domain.throttle import (
    LockoutPolicy,
)
from vetchart.domain.users import Role, User
from vetchart.services.accounts import AccountMaker
from vetchart.services.audit import UNATTENDED
from vetchart.services.audit import record as record_audit
from vetchart.services.ports.identity import (
    PasswordHasher,
    PrincipalCache,
    TokenService,
    Totp,
)
from vetchart.services.ports.system import Clock, IdGenerator, SecretBox
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class AuthConfig:
    lockout: LockoutPolicy
    sessions: SessionPolicy
    mfa_required_roles: frozenset[Role]
    recovery_code_count: int = 10


def token_digest(token: str) -> bytes:
    """Refresh tokens and recovery codes are random and long: SHA-256 is the right hash."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class AuthBase:
    """The collaborators of the authentication use cases; ``AuthService`` is built on it
    from the parts in this package (one object, one set of collaborators)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        tokens: TokenService,
        secret_box: SecretBox,
        totp: Totp,
        principal_cache: PrincipalCache,
        guessability: passwords.GuessabilityCheck,
        config: AuthConfig,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._hasher = hasher
        self._tokens = tokens
        self._box = secret_box
        self._totp = totp
        self._cache = principal_cache
        self._guessability = guessability
        self._config = config
        self._accounts = AccountMaker(
            ids=ids, clock=clock, hasher=hasher, guessability=guessability
        )

    @staticmethod
    def _audit(
        uow: UnitOfWork,
        meta: RequestMeta,
        action: AuditAction,
        user: User | None,
        outcome: Outcome,
        details: Mapping[str, object] | None = None,
    ) -> None:
        """An event of an account not signed in (sign-up, sign-in, refresh): the user is
        both its resource and its actor (None: no such account)."""
        record_audit(
            uow,
            meta,
            UNATTENDED if user is None else user,
            action,
            None if user is None else user.id,
            None if user is None else user.practice_id,
            dict(details) if details else None,
            outcome=outcome,
        )

    @staticmethod
    def _audit_actor(
        uow: UnitOfWork,
        meta: RequestMeta,
        action: AuditAction,
        actor: Principal,
        resource_id: str | None = None,
        *,
        outcome: Outcome = Outcome.SUCCESS,
        details: dict[str, object] | None = None,
    ) -> None:
        """An event of a signed-in user; its resource (of the action's type) is by default
        the user's own account (MFA, password)."""
        record_audit(
            uow,
            meta,
            actor,
            action,
            str(actor.user_id) if resource_id is None else resource_id,
            actor.practice_id,
            details,
            outcome=outcome,
        )
