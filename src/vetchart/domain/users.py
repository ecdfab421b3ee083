"""Users and roles: one role model for the whole product."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from vetchart.domain.errors import RuleViolation
from vetchart.domain.input_bounds import check_max_length


class Role(enum.StrEnum):
    PET_OWNER = "PET_OWNER"
    VET_STAFF = "VET_STAFF"
    VET = "VET"
    PRACTICE_ADMIN = "PRACTICE_ADMIN"
    SYSTEM_ADMIN = "SYSTEM_ADMIN"

    @property
    def is_staff(self) -> bool:
        """Works for one practice (the staff roles)."""
        return self in STAFF_ROLES


STAFF_ROLES = frozenset({Role.VET_STAFF, Role.VET, Role.PRACTICE_ADMIN})

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200


def normalize_email(email: str) -> str:
    """The canonical form used for uniqueness and look-ups (case-insensitive)."""
    value = unicodedata.normalize("NFC", email.strip()).lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or "." not in domain or len(value) > MAX_EMAIL_LENGTH:
        raise RuleViolation("Enter a valid email address.", rule="email.invalid", field="email")
    if any(ch.isspace() for ch in value):
        raise RuleViolation("Enter a valid email address.", rule="email.invalid", field="email")
    return value


def normalize_full_name(full_name: str) -> str:
    value = " ".join(unicodedata.normalize("NFC", full_name).split())
    if not value:
        raise RuleViolation(
            "The full name is required.", rule="full_name.required", field="full_name"
        )
    check_max_length(
        value, MAX_NAME_LENGTH, what="The full name", rule="full_name.too_long", field="full_name"
    )
    return value


def check_role_practice(role: Role, practice_id: UUID | None) -> None:
    """Staff roles have exactly one practice; other roles have none."""
    if role.is_staff and practice_id is None:
        raise RuleViolation(
            "Staff users belong to exactly one practice.",
            rule="user.staff_needs_practice",
            field="practice_id",
        )
    if not role.is_staff and practice_id is not None:
        raise RuleViolation(
            "Only staff users belong to a practice.",
            rule="user.practice_only_for_staff",
            field="practice_id",
        )


@dataclass
class User:
    id: UUID
    email: str
    full_name: str
    role: Role
    practice_id: UUID | None
    is_active: bool
    password_hash: str
    mfa_enabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime | None = None
    # Sealed (encrypted) TOTP seeds: the confirmed one, and one awaiting confirmation.
    mfa_secret: str | None = None
    mfa_pending_secret: str | None = None
    # The last TOTP time step accepted: a code is good once per step.
    mfa_last_timestep: int | None = None

    @classmethod
    def new(
        cls,
        *,
        id: UUID,
        email: str,
        full_name: str,
        role: Role,
        practice_id: UUID | None,
        password_hash: str,
        now: datetime,
    ) -> User:
        """A new active account without MFA, its password set ``now``."""
        return cls(
            id=id,
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


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, kw_only=True)
class NewAccount:
    """An account asked for by the person who will hold it (``POST /auth/signup``, the
    admin command): the email and the name checked and normalised once, here. The
    password's rules need the guessability check (a port) and the email, so they run where
    the account is made (``services/accounts.py``); the role is never the caller's."""

    email: str
    full_name: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_email(self.email))
        object.__setattr__(self, "full_name", normalize_full_name(self.full_name))


@dataclass(frozen=True)
class ProfileChanges:
    """A change of one's own profile (``PATCH /users/me``); None leaves the name as is."""

    full_name: str | None = None

    def __post_init__(self) -> None:
        if self.full_name is not None:
            object.__setattr__(self, "full_name", normalize_full_name(self.full_name))


@dataclass(frozen=True)
class UserChanges:
    """Administrative changes (``PATCH /users/{id}``); None means "leave as is"."""

    role: Role | None = None
    is_active: bool | None = None
