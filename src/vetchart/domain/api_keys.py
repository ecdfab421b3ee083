"""API keys: a practice's credentials for its integrations (docs/auth.md, "API keys").

A key reads ``vck_<public id>_<secret>``: the public id (16 characters) finds the key's
row, the secret (52 characters, about 268 random bits from ``secrets``) proves the caller
holds it. Only the SHA-256 digest of the secret is stored. A fast hash is the right one
here: the secret is random and long, so no dictionary or brute force can reach it, and a
slow password hash (Argon2) would only cost every request of an integration its CPU time.
Digests are compared in constant time (``hmac.compare_digest``).

A key acts within its practice only, with the permissions of a PRACTICE_ADMIN limited to
its scopes: a subset of :data:`INTEGRATION_ACTIONS`, the reads and writes an integration
plausibly needs (never the management of users, staff, invitations, sessions, MFA, keys,
nor anything of a person's own account). The rules that need no I/O live here.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

from vetchart.domain.errors import RuleViolation
from vetchart.domain.policy import Action

KEY_PREFIX: Final = "vck_"
PUBLIC_ID_LENGTH: Final = 16
SECRET_LENGTH: Final = 52
# Lower-case letters and digits: no separator in them, and a key survives being typed,
# pasted into a header or a shell unquoted. 52 of 36 symbols: about 268 bits.
ALPHABET: Final = string.ascii_lowercase + string.digits
KEY_PATTERN: Final = re.compile(
    rf"^{KEY_PREFIX}([a-z0-9]{{{PUBLIC_ID_LENGTH}}})_([a-z0-9]{{{SECRET_LENGTH}}})$"
)
MAX_NAME_LENGTH: Final = 200

# What a key may be scoped to: the reads and writes of a practice's business an
# integration (a booking site, a lab, a reminder service, a practice management system)
# needs. Each is a PRACTICE_ADMIN's action (tests/unit/test_api_keys_domain.py checks it).
INTEGRATION_ACTIONS: Final[frozenset[Action]] = frozenset(
    {
        Action.PRACTICE_READ,
        Action.PRACTICE_STAFF_LIST,
        Action.PET_OWNER_CREATE,
        Action.PET_OWNER_READ,
        Action.PET_OWNER_UPDATE,
        Action.ASSOCIATION_CREATE,
        Action.ASSOCIATION_LIST,
        Action.PET_CREATE,
        Action.PET_READ,
        Action.PET_UPDATE,
        Action.MEDICAL_RECORD_CREATE,
        Action.MEDICAL_RECORD_READ,
        Action.FOLLOW_UPS_LIST,
        Action.APPOINTMENT_CREATE,
        Action.APPOINTMENT_READ,
        Action.APPOINTMENT_UPDATE,
        Action.VISIT_READ,
        Action.ATTACHMENT_READ,
        Action.SCHEDULE_READ,
        Action.SLOTS_READ,
        Action.MESSAGE_LIST,
        Action.MESSAGE_CONSENT_READ,
        Action.REMINDER_RULE_READ,
    }
)
INTEGRATION_SCOPES: Final[tuple[str, ...]] = tuple(sorted(a.value for a in INTEGRATION_ACTIONS))


class KeyState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ApiKey:
    id: UUID
    practice_id: UUID
    public_id: str
    name: str
    # SHA-256 of the secret (the secret itself is never stored); kept out of reprs and logs.
    secret_hash: bytes = field(repr=False)
    scopes: tuple[Action, ...]
    created_by: UUID
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return KeyState.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this key's (constant time)."""
        return secret_matches(secret, self.secret_hash)


@dataclass(frozen=True)
class NewApiKey:
    """A key just made, with its plaintext: the only time the plaintext exists outside
    the caller's hands (it is in the creation's answer, then gone)."""

    key: ApiKey
    plaintext: str

    def __repr__(self) -> str:  # never print the plaintext
        return f"NewApiKey(key={self.key.id}, plaintext=***)"


@dataclass(frozen=True)
class PresentedKey:
    """A key as a caller presented it, split into its parts (not yet verified)."""

    public_id: str
    secret: str

    def __repr__(self) -> str:
        return f"PresentedKey(public_id={self.public_id!r}, secret=***)"


def secret_digest(secret: str) -> bytes:
    """What is stored of a secret: its SHA-256 (random and long: see the module doc)."""
    return hashlib.sha256(secret.encode("ascii")).digest()


def secret_matches(secret: str, digest: bytes) -> bool:
    """Whether ``secret`` is the one stored as ``digest`` (constant-time comparison)."""
    return hmac.compare_digest(secret_digest(secret), digest)


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def generate() -> tuple[str, str, str]:
    """A new key: (plaintext, public id, secret)."""
    public_id, secret = _random(PUBLIC_ID_LENGTH), _random(SECRET_LENGTH)
    return f"{KEY_PREFIX}{public_id}_{secret}", public_id, secret


def looks_like_key(credential: str) -> bool:
    """Whether a credential is meant as an API key (not an access token): its prefix."""
    return credential.startswith(KEY_PREFIX)


def parse(credential: str) -> PresentedKey | None:
    """The parts of a well-formed key; None for anything else."""
    found = KEY_PATTERN.fullmatch(credential)
    if found is None:
        return None
    return PresentedKey(public_id=found.group(1), secret=found.group(2))


# ------------------------------------------------------------------ commands


def check_scopes(values: tuple[str, ...] | list[str]) -> tuple[Action, ...]:
    """Known integration scopes only, at least one; sorted, each once."""
    unknown = sorted(set(values) - set(INTEGRATION_SCOPES))
    if unknown:
        raise RuleViolation(
            f"A key cannot be scoped to: {', '.join(unknown)}. "
            f"Allowed: {', '.join(INTEGRATION_SCOPES)}.",
            rule="api_key.scopes",
            field="scopes",
        )
    if not values:
        raise RuleViolation("Name at least one scope.", rule="api_key.scopes", field="scopes")
    return tuple(Action(value) for value in sorted(set(values)))


@dataclass(frozen=True)
class CreateApiKey:
    """``POST /practices/{id}/api-keys``; the expiry is checked against the clock by
    :func:`check_expiry` (the service knows the time)."""

    name: str
    scopes: tuple[str, ...]
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        name = " ".join(self.name.split())
        if not name:
            raise RuleViolation("Name the key.", rule="api_key.name", field="name")
        if len(name) > MAX_NAME_LENGTH:
            raise RuleViolation(
                f"The name is longer than {MAX_NAME_LENGTH} characters.",
                rule="api_key.name",
                field="name",
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "scopes", tuple(a.value for a in check_scopes(self.scopes)))
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise RuleViolation(
                "Give the expiry with its time zone (e.g. 2027-01-31T00:00:00Z).",
                rule="api_key.expires_at",
                field="expires_at",
            )


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    """A key cannot be made already expired."""
    if expires_at is not None and expires_at <= now:
        raise RuleViolation(
            "The expiry must be in the future.", rule="api_key.expires_at", field="expires_at"
        )
