"""Changing one's password: the current one is needed (a wrong one counts as a failed
sign-in), and every other session of the user is revoked."""

from __future__ import annotations

from dataclasses import replace

from vetchart.domain import passwords
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import RuleViolation, Unauthenticated
from vetchart.domain.policy import Principal
from vetchart.domain.throttle import password_keys
from vetchart.services.auth.lockout import Lockout, locked
from vetchart.services.invalidation import sessions_changed
from vetchart.services.passwords import validate_new_password


class PasswordChange(Lockout):
    async def change_password(
        self, actor: Principal, *, current_password: str, new_password: str, meta: RequestMeta
    ) -> None:
        """Needs the current password; revokes every other session of the user.

        A wrong current password counts exactly as a failed sign-in (the same throttle
        keys), so a stolen access token is no way around the sign-in throttles."""
        async with self._uow() as uow:
            user = await uow.users.get(actor.user_id)
            if user is None:
                raise Unauthenticated("The session has ended; sign in again.")
            keys = password_keys(user.email, user.id, meta.client_address)
            throttles = await self._peek_throttles(uow, keys)
        now = self._clock.now()
        held = self._lock_in_force(throttles, now)
        if held is not None:
            async with self._uow() as uow:
                self._refuse_locked_change(uow, meta, AuditAction.AUTH_PASSWORD_CHANGE, actor, held)
                await uow.commit()
            raise locked(held, now)
        if not await self._hasher.verify(
            user.password_hash, passwords.normalize_password(current_password)
        ):
            await self._register_failure(
                keys,
                self._config.lockout.account,
                user,
                meta,
                AuditAction.AUTH_PASSWORD_CHANGE,
                {"reason": "current_incorrect"},
            )
            raise RuleViolation(
                "The current password is not correct.",
                rule="current_password.incorrect",
                field="current_password",
            )
        new_value = await validate_new_password(
            new_password, email=user.email, guessability=self._guessability, field="new_password"
        )
        if new_value == passwords.normalize_password(current_password):
            raise RuleViolation(
                "The new password must differ from the current one.",
                rule="password.unchanged",
                field="new_password",
            )
        new_hash = await self._hasher.hash(new_value)
        async with self._uow() as uow:
            now = self._clock.now()
            await self._password_passed(uow, keys, now)
            locked_user = await uow.users.get(actor.user_id, for_update=True)
            assert locked_user is not None
            await uow.users.save(
                replace(
                    locked_user, password_hash=new_hash, password_changed_at=now, updated_at=now
                )
            )
            revoked = await uow.sessions.revoke_all(
                actor.user_id, now, "password_changed", keep=actor.session_id
            )
            revoked_count: dict[str, object] = {"revoked_sessions": len(revoked)}
            self._audit_actor(
                uow, meta, AuditAction.AUTH_PASSWORD_CHANGE, actor, details=revoked_count
            )
            sessions_changed(uow, actor.user_id, revoked, "password_changed")
            await uow.commit()
