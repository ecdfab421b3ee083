"""Practices: the tenants. Deactivated, never deleted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from uuid import UUID
from zoneinfo import available_timezones

from vetchart.domain.errors import RuleViolation
from vetchart.domain.events import DomainEvent

# Fields a practice's admin may change (and a SYSTEM_ADMIN); `is_active` has its own use case.
EDITABLE_FIELDS = (
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
    "license_number",
    "accepts_new_patients",
)
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


@dataclass
class Practice:
    id: UUID
    name: str
    timezone: str
    created_at: datetime
    updated_at: datetime
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
    is_active: bool = True
    version: int = 1


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
