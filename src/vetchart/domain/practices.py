"""Practices: the tenants. Deactivated, never deleted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from uuid import UUID
from zoneinfo import available_timezones

from vetchart.domain.commands import UNSET, Unset, normalise, sent_null, stripped
from vetchart.domain.errors import RuleViolation
from vetchart.domain.events import DomainEvent

# What a pet owner (or anyone not on the practice's staff) sees in the directory.
DIRECTORY_FIELDS = (
    "id",
    "name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "website",
    "timezone",
    "accepts_new_patients",
)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """An IANA time zone name (e.g. ``Europe/London``)."""
    if name not in _zones():
        raise RuleViolation(
            f"'{name}' is not an IANA time zone name (e.g. Europe/London).",
            rule="practice.timezone_invalid",
            field="timezone",
        )
    return name


def check_name(name: str) -> str:
    value = " ".join(name.split())
    if not value:
        raise RuleViolation(
            "The practice name is required.", rule="practice.name_required", field="name"
        )
    return value


@dataclass(frozen=True, kw_only=True)
class PracticeDetails:
    """What describes a practice: what is sent to create one (:class:`NewPractice`), and
    what every stored :class:`Practice` has besides its identity and state."""

    name: str
    timezone: str
    email: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    website: str | None = None
    license_number: str | None = None
    accepts_new_patients: bool = True


@dataclass(frozen=True, kw_only=True)
class Practice(PracticeDetails):
    id: UUID
    created_at: datetime
    updated_at: datetime
    is_active: bool = True
    version: int = 1


def _check_fields(command: NewPractice | PracticeChanges) -> None:
    """The checks of a practice's fields as sent, once, when a command is built."""
    normalise(command, "name", lambda name: check_name(str(name or "")))
    normalise(command, "timezone", lambda zone: check_timezone(str(zone or "")))
    normalise(command, "license_number", stripped)
    if sent_null(command, "accepts_new_patients"):
        raise RuleViolation(
            "accepts_new_patients cannot be null.",
            rule="practice.required",
            field="accepts_new_patients",
        )


@dataclass(frozen=True, kw_only=True)
class NewPractice(PracticeDetails):
    """A practice to create (``POST /practices``)."""

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True, kw_only=True)
class PracticeChanges:
    """A change of a practice (``PATCH /practices/{id}``): ``UNSET`` leaves a field as it
    is; ``is_active`` has its own use case."""

    name: str | Unset = UNSET
    timezone: str | Unset = UNSET
    email: str | Unset | None = UNSET
    phone: str | Unset | None = UNSET
    address_line1: str | Unset | None = UNSET
    address_line2: str | Unset | None = UNSET
    city: str | Unset | None = UNSET
    region: str | Unset | None = UNSET
    postal_code: str | Unset | None = UNSET
    country: str | Unset | None = UNSET
    website: str | Unset | None = UNSET
    license_number: str | Unset | None = UNSET
    accepts_new_patients: bool | Unset = UNSET

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True, kw_only=True)
class InvitationCreated(DomainEvent):
    """A staff invitation was issued; its mail is sent from the outbox. The token is
    sealed in the outbox (``metadata sealed``) and never logged."""

    invitation_id: UUID
    practice_id: UUID
    practice_name: str
    email: str
    role: str
    expires_at: datetime
    token: str = field(metadata={"sealed": True}, repr=False)
