"""API keys: a practice's credentials for its integrations (docs/auth.md, "API keys").

Made, listed, read and revoked by the practice's PRACTICE_ADMIN (``api_key.manage``);
the plaintext is in the creation's answer only. ``authenticate`` turns a presented key
into the principal of its requests: the PRACTICE_ADMIN of the key's practice limited to
the key's scopes (``policy.require`` refuses anything else), named in every audit row as
the key (role ``API_KEY``, services/audit.py).

An authenticated key's principal is remembered for a few seconds like a session's (the
principal cache, in the slot :func:`cache_slot` of its public id); a revocation forgets
it through ``SessionsChanged`` (services/invalidation.py): in this process at once, in
the others at once over Redis when it is configured, else within
``VETCHART_SESSION_CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from uuid import UUID

from vetchart.domain import api_keys as keys
from vetchart.domain.api_keys import ApiKey, CreateApiKey, KeyState, NewApiKey
from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Unauthenticated
from vetchart.domain.policy import (
    Action,
    ApiKeyGrant,
    Principal,
)
from vetchart.domain.users import Role
from vetchart.services.audit import UNATTENDED
from vetchart.services.audit import record as audit
from vetchart.services.base import practice_for, practice_to_configure, require_configuration
from vetchart.services.invalidation import sessions_changed
from vetchart.services.ports.identity import PrincipalCache
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

REJECTED = "The API key is not valid (unknown, revoked or expired)."
REVOKED_REASON = "api_key_revoked"


def cache_slot(public_id: str) -> UUID:
    """Where a key's principal is remembered in the principal cache (its ``session_id``):
    a name of the public id, so a presented key finds it before any database read."""
    digest = hashlib.sha256(b"vetchart/api-key/" + public_id.encode("ascii")).digest()
    return UUID(bytes=digest[:16])


def key_principal(key: ApiKey) -> Principal:
    """Who a key's requests are made by: its practice's admin, limited to its scopes. Not
    a person: no MFA to enrol (the key is the whole credential)."""
    return Principal(
        user_id=key.created_by,
        role=Role.PRACTICE_ADMIN,
        practice_id=key.practice_id,
        session_id=cache_slot(key.public_id),
        mfa_enabled=True,
        full_name=key.name,
        api_key=ApiKeyGrant(
            id=key.id,
            created_by=key.created_by,
            scopes=frozenset(action.value for action in key.scopes),
            expires_at=key.expires_at,
            secret_hash=key.secret_hash,
        ),
    )


@dataclass(frozen=True)
class ApiKeyPolicy:
    """How often a key's ``last_used_at`` is written (at most)."""

    last_used_interval: timedelta


class ApiKeyService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        principal_cache: PrincipalCache,
        policy: ApiKeyPolicy,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._cache = principal_cache
        self._policy = policy

    # ------------------------------------------------------------ management

    async def create(
        self, actor: Principal, practice_id: UUID, command: CreateApiKey, meta: RequestMeta
    ) -> NewApiKey:
        """A new key; its plaintext is in the answer this once (only its digest is kept)."""
        async with self._uow() as uow:
            await practice_to_configure(uow, actor, Action.API_KEY_MANAGE, practice_id)
            now = self._clock.now()
            keys.check_expiry(command.expires_at, now)
            plaintext, public_id, secret = keys.generate()
            key = ApiKey(
                id=self._ids.new_id(),
                practice_id=practice_id,
                public_id=public_id,
                name=command.name,
                secret_hash=keys.secret_digest(secret),
                scopes=tuple(Action(scope) for scope in command.scopes),
                created_by=actor.user_id,
                created_at=now,
                expires_at=command.expires_at,
            )
            await uow.api_keys.add(key)
            details = {
                "name": key.name,
                "public_id": public_id,
                "scopes": list(command.scopes),
                "expires_at": None if key.expires_at is None else key.expires_at.isoformat(),
            }
            audit(uow, meta, actor, AuditAction.API_KEY_CREATE, key.id, practice_id, details)
            await uow.commit()
        return NewApiKey(key=key, plaintext=plaintext)

    async def list(self, actor: Principal, practice_id: UUID, page: PageRequest) -> Page[ApiKey]:
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.API_KEY_MANAGE, practice_id)
            return await uow.api_keys.page(practice_id, page)

    async def get(self, actor: Principal, practice_id: UUID, key_id: UUID) -> ApiKey:
        async with self._uow() as uow:
            return await self._key(uow, actor, practice_id, key_id)

    async def revoke(
        self, actor: Principal, practice_id: UUID, key_id: UUID, meta: RequestMeta
    ) -> None:
        """Revoke at once (a revoked key stays listed). Revoking a revoked key changes
        nothing and is no error (the caller's intent holds)."""
        async with self._uow() as uow:
            key = await self._key(uow, actor, practice_id, key_id, for_update=True)
            if key.revoked_at is not None:
                return
            await uow.api_keys.revoke(key.id, self._clock.now())
            audit(
                uow,
                meta,
                actor,
                AuditAction.API_KEY_REVOKE,
                key.id,
                key.practice_id,
                {"name": key.name, "public_id": key.public_id},
            )
            sessions_changed(uow, key.created_by, [cache_slot(key.public_id)], REVOKED_REASON)
            await uow.commit()

    async def _key(
        self,
        uow: UnitOfWork,
        actor: Principal,
        practice_id: UUID,
        key_id: UUID,
        *,
        for_update: bool = False,
    ) -> ApiKey:
        key = await uow.api_keys.get(key_id, for_update=for_update)
        found = None if key is None or key.practice_id != practice_id else key.practice_id
        require_configuration(actor, Action.API_KEY_MANAGE, "API key", found)
        assert key is not None
        return key

    # ------------------------------------------------------------ authentication

    async def authenticate(self, credential: str, meta: RequestMeta) -> Principal:
        """The principal of a presented key, looked up (the caller asks ``remembered``
        first: the refusal limit sits between the two); ``Unauthenticated`` (and an audit
        row) for a malformed, unknown, revoked or expired one."""
        presented = keys.parse(credential)
        if presented is None:
            await self._reject(meta, None, "malformed", None)
        now = self._clock.now()
        generation = self._cache.generation
        async with self._uow() as uow:
            key = await uow.api_keys.by_public_id(presented.public_id)
            state = None if key is None or not key.matches(presented.secret) else key.state(now)
            if key is None or state is not KeyState.ACTIVE:
                reason = "unknown" if state is None else state.value
                await self._reject(meta, key if state is not None else None, reason, uow)
            assert key is not None
            interval = self._policy.last_used_interval
            if key.last_used_at is None or now - key.last_used_at >= interval:
                await uow.api_keys.touch(key.id, now, unless_since=now - interval)
                await uow.commit()
        principal = key_principal(key)
        self._cache.put(principal, looked_up_at=generation)
        return principal

    def remembered(self, credential: str) -> Principal | None:
        """The principal of a key this process authenticated a moment ago and still holds
        (its own secret, not revoked since, not expired): no look-up, no audit row."""
        presented = keys.parse(credential)
        if presented is None:
            return None
        cached = self._cache.get(cache_slot(presented.public_id))
        if cached is not None and _still_holds(cached, presented.secret, self._clock.now()):
            return cached
        return None

    async def _reject(
        self, meta: RequestMeta, key: ApiKey | None, reason: str, uow: UnitOfWork | None
    ) -> NoReturn:
        """Write the refusal's audit row (naming the key when the secret was its own) and
        raise ``Unauthenticated``; the answer does not say why."""
        details: dict[str, object] = {"reason": reason}
        if key is not None:
            details["public_id"] = key.public_id
        if uow is None:
            async with self._uow() as own:
                await self._write_rejection(own, meta, key, details)
        else:
            await self._write_rejection(uow, meta, key, details)
        raise Unauthenticated(REJECTED, code="api-key-invalid")

    @staticmethod
    async def _write_rejection(
        uow: UnitOfWork, meta: RequestMeta, key: ApiKey | None, details: dict[str, object]
    ) -> None:
        audit(
            uow,
            meta,
            UNATTENDED,
            AuditAction.AUTH_API_KEY_REJECTED,
            None if key is None else key.id,
            None if key is None else key.practice_id,
            details,
            outcome=Outcome.DENIED,
        )
        await uow.commit()


def _still_holds(cached: Principal, secret: str, now: datetime) -> bool:
    """Whether a remembered key principal may serve this request: it is a key's, the
    secret is its own (constant time), and it has not expired since."""
    grant = cached.api_key
    if grant is None:
        return False
    if grant.expires_at is not None and now >= grant.expires_at:
        return False
    return keys.secret_matches(secret, grant.secret_hash)
