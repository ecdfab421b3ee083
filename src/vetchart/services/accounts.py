"""Building a new user account: the one place where email, name and password rules meet
the hasher (signup, invitations and the admin command all come through here)."""

from __future__ import annotations

from uuid import UUID

from vetchart.domain.passwords import GuessabilityCheck
from vetchart.domain.users import (
    Role,
    User,
    check_role_practice,
    normalize_email,
    normalize_full_name,
)
from vetchart.services.passwords import validate_new_password
from vetchart.services.ports.identity import PasswordHasher
from vetchart.services.ports.system import Clock, IdGenerator


async def new_account(
    *,
    email: str,
    full_name: str,
    password: str,
    role: Role,
    practice_id: UUID | None,
    ids: IdGenerator,
    clock: Clock,
    hasher: PasswordHasher,
    guessability: GuessabilityCheck,
) -> User:
    """A valid, not yet stored user; ``RuleViolation`` names the first rule broken."""
    email = normalize_email(email)
    full_name = normalize_full_name(full_name)
    check_role_practice(role, practice_id)
    password = await validate_new_password(password, email=email, guessability=guessability)
    password_hash = await hasher.hash(password)
    now = clock.now()
    return User(
        id=ids.new_id(),
        email=email,
        full_name=full_name,
        role=role,
        practice_id=practice_id,
        is_active=True,
        password_hash=password_hash,
        mfa_enabled=False,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
