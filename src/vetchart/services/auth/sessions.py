"""Sessions and their tokens: opening a session (access and refresh token), refresh-token
rotation (a spent token presented again revokes its session), authentication of an
access token, sign-out, and a user's own sessions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import (
    NotFound,
    Unauthenticated,
)
from vetchart.domain.policy import Action, Principal, require
from vetchart.domain.sessions import SessionRecord
from vetchart.domain.users import Role, User
from vetchart.services.auth.base import AuthBase, token_digest
from vetchart.services.invalidation import sessions_changed
from vetchart.services.ports.identity import (
    IssuedToken,
    RefreshTokenState,
)
from vetchart.services.ports.unit_of_work import UnitOfWork

INVALID_REFRESH = "The refresh token is not valid."

REFRESH_TOKEN_BYTES = 32


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    session_id: UUID


class Sessions(AuthBase):
    async def _open_session(
        self, uow: UnitOfWork, user: User, meta: RequestMeta, now: datetime
    ) -> TokenPair:
        policy = self._config.sessions
        idle = (
            policy.idle_timeout_staff
            if user.role is not Role.PET_OWNER
            else policy.idle_timeout_owner
        )
        session = SessionRecord(
            id=self._ids.new_id(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + policy.absolute_lifetime,
            idle_timeout_seconds=int(idle.total_seconds()),
            client_address=meta.client_address,
            user_agent=(meta.user_agent or "")[:500] or None,
        )
        await uow.sessions.add(session)
        refresh = await self._new_refresh_token(uow, session.id, now)
        access: IssuedToken = self._tokens.issue_access(user, session.id, now)
        return TokenPair(access.token, access.expires_in, refresh, session.id)

    async def _new_refresh_token(self, uow: UnitOfWork, session_id: UUID, now: datetime) -> str:
        """A new refresh token of the session (only its digest is kept)."""
        refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        await uow.sessions.add_refresh_token(
            self._ids.new_id(), session_id, token_digest(refresh), now
        )
        return refresh

    async def refresh(self, *, refresh_token: str, meta: RequestMeta) -> TokenPair:
        """Rotate: the presented token is spent; a spent one revokes its whole session."""
        digest = token_digest(refresh_token)
        async with self._uow() as uow:
            now = self._clock.now()
            spent = await uow.sessions.spend_refresh_token(digest, now)
            if spent.state is RefreshTokenState.UNKNOWN or spent.session_id is None:
                raise Unauthenticated(INVALID_REFRESH)
            session = await uow.sessions.get(spent.session_id, for_update=True)
            assert session is not None
            user = await uow.users.get(session.user_id)
            assert user is not None
            if spent.state is RefreshTokenState.ALREADY_SPENT:
                revoked = await uow.sessions.revoke(session.id, now, "refresh_token_reuse")
                reused = {"session_id": str(session.id), "revoked": revoked}
                self._audit(uow, meta, AuditAction.AUTH_REFRESH_REUSE, user, Outcome.DENIED, reused)
                sessions_changed(uow, user.id, [session.id], "refresh_token_reuse")
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH)
            if not session.is_usable(now) or not user.is_active:
                ended = {"session_id": str(session.id), "reason": "session_ended"}
                self._audit(uow, meta, AuditAction.AUTH_REFRESH, user, Outcome.DENIED, ended)
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH)
            refresh = await self._new_refresh_token(uow, session.id, now)
            await uow.sessions.touch(session.id, now)
            access = self._tokens.issue_access(user, session.id, now)
            rotated = {"session_id": str(session.id)}
            self._audit(uow, meta, AuditAction.AUTH_REFRESH, user, Outcome.SUCCESS, rotated)
            await uow.commit()
        return TokenPair(access.token, access.expires_in, refresh, session.id)

    async def authenticate(self, access_token: str) -> Principal:
        """A verified access token whose session is still live, and its active user."""
        now = self._clock.now()
        claims = self._tokens.verify_access(access_token, now)
        cached = self._cache.get(claims.session_id)
        if cached is not None and cached.user_id == claims.user_id:
            return cached
        generation = self._cache.generation
        async with self._uow() as uow:
            found = await uow.sessions.principal(claims.session_id, claims.user_id)
        if found is None or not found.session.is_usable(now) or not found.user.is_active:
            raise Unauthenticated("The session has ended; sign in again.")
        user = found.user
        principal = Principal(
            user_id=user.id,
            role=user.role,
            practice_id=user.practice_id,
            session_id=found.session.id,
            mfa_enabled=user.mfa_enabled,
            full_name=user.full_name,
        )
        self._cache.put(principal, looked_up_at=generation)
        return principal

    async def logout(self, actor: Principal, meta: RequestMeta) -> None:
        async with self._uow() as uow:
            now = self._clock.now()
            await uow.sessions.revoke(actor.session_id, now, "logout")
            self._audit_actor(uow, meta, AuditAction.AUTH_LOGOUT, actor, str(actor.session_id))
            sessions_changed(uow, actor.user_id, [actor.session_id], "logout")
            await uow.commit()

    async def logout_all(self, actor: Principal, meta: RequestMeta) -> None:
        async with self._uow() as uow:
            now = self._clock.now()
            revoked = await uow.sessions.revoke_all(actor.user_id, now, "logout_all")
            self._audit_actor(
                uow,
                meta,
                AuditAction.AUTH_LOGOUT_ALL,
                actor,
                str(actor.user_id),
                details={"all_sessions": True, "revoked": len(revoked)},
            )
            sessions_changed(uow, actor.user_id, [*revoked, actor.session_id], "logout_all")
            await uow.commit()

    async def list_sessions(self, actor: Principal) -> list[SessionRecord]:
        require(actor, Action.OWN_SESSIONS_MANAGE)
        async with self._uow() as uow:
            return await uow.sessions.list_active(actor.user_id, self._clock.now())

    async def revoke_session(self, actor: Principal, session_id: UUID, meta: RequestMeta) -> None:
        require(actor, Action.OWN_SESSIONS_MANAGE)
        async with self._uow() as uow:
            now = self._clock.now()
            session = await uow.sessions.get(session_id, for_update=True)
            if session is None or session.user_id != actor.user_id:
                raise NotFound("Session not found.")
            await uow.sessions.revoke(session_id, now, "revoked_by_user")
            self._audit_actor(uow, meta, AuditAction.AUTH_SESSION_REVOKE, actor, str(session_id))
            sessions_changed(uow, actor.user_id, [session_id], "revoked_by_user")
            await uow.commit()
