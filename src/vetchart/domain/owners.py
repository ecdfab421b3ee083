"""Pet owners (clients) and their associations with practices."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from vetchart.domain.commands import UNSET, Unset, normalise, stripped
from vetchart.domain.errors import Conflict
from vetchart.domain.users import normalize_email, normalize_full_name


class PreferredCommunication(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"
    MAIL = "mail"


def _check_fields(command: NewOwner | OwnerChanges) -> None:
    """The checks of an owner's fields as sent, once, when a command is built."""
    normalise(command, "full_name", lambda name: normalize_full_name(str(name or "")))
    normalise(command, "email", lambda email: normalize_email(email) if email else email)
    normalise(command, "phone", stripped)
    normalise(command, "address", stripped)


@dataclass(frozen=True, kw_only=True)
class NewOwner:
    """A pet owner to create (``POST /pet-owners``)."""

    full_name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    preferred_communication: PreferredCommunication | None = None

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True, kw_only=True)
class OwnerChanges:
    """A change of a pet owner (``PATCH /pet-owners/{id}``): ``UNSET`` leaves a field as
    it is; the full name cannot be cleared."""

    full_name: str | Unset = UNSET
    email: str | Unset | None = UNSET
    phone: str | Unset | None = UNSET
    address: str | Unset | None = UNSET
    preferred_communication: PreferredCommunication | Unset | None = UNSET

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass
class PetOwner:
    id: UUID
    full_name: str
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    preferred_communication: PreferredCommunication | None = None
    user_id: UUID | None = None
    # The practice whose staff created this owner (None: the owner registered themselves).
    created_by_practice_id: UUID | None = None
    # Deactivated (soft): still readable; no new pets, associations or appointments.
    is_active: bool = True
    # When the owner's personal data was erased (domain/erasure.py); an erased owner is
    # inactive for good.
    erased_at: datetime | None = None

    def require_active(self) -> None:
        """A deactivated (or erased) owner gets no new pets, associations or
        appointments: 409 ``owner-inactive``."""
        if not self.is_active:
            raise Conflict(
                "This pet owner is deactivated; reactivate them first.", code="owner-inactive"
            )


class RequestType(enum.StrEnum):
    NEW_CLIENT = "new_client"
    REFERRAL = "referral"
    TRANSFER = "transfer"
    EMERGENCY = "emergency"


@dataclass(frozen=True, kw_only=True)
class NewAssociation:
    """An association asked for (``POST /practice-associations``): by an owner for
    themselves, or by staff for their practice."""

    pet_owner_id: UUID
    practice_id: UUID
    request_type: RequestType


class AssociationStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    INACTIVE = "inactive"


# The workflow: the only edges there are.
TRANSITIONS: dict[AssociationStatus, frozenset[AssociationStatus]] = {
    AssociationStatus.PENDING: frozenset({AssociationStatus.APPROVED, AssociationStatus.REJECTED}),
    AssociationStatus.APPROVED: frozenset({AssociationStatus.INACTIVE}),
    AssociationStatus.REJECTED: frozenset(),
    AssociationStatus.INACTIVE: frozenset(),
}
# Statuses during which a second association of the same owner and practice is refused.
OPEN_STATUSES = frozenset({AssociationStatus.PENDING, AssociationStatus.APPROVED})


class ConsentParty(enum.StrEnum):
    """Whose consent a pending association awaits: the practice's (the owner asked), or
    the owner's (a practice asked for an owner it did not create)."""

    PRACTICE = "practice"
    OWNER = "owner"


# An association that asked for the owner's consent stays out of the practice's sight
# until the owner approves it: pending or refused, it tells the practice nothing (not
# even that the owner exists).
HIDDEN_FROM_PRACTICE = frozenset({AssociationStatus.PENDING, AssociationStatus.REJECTED})


@dataclass(frozen=True)
class Association:
    id: UUID
    pet_owner_id: UUID
    practice_id: UUID
    request_type: RequestType
    status: AssociationStatus
    requested_by: UUID
    created_at: datetime
    updated_at: datetime
    decided_by: UUID | None = None
    decided_at: datetime | None = None
    deactivated_by: UUID | None = None
    deactivated_at: datetime | None = None
    # Whose consent it awaits while pending (kept once decided); None: approved at once.
    awaiting: ConsentParty | None = None

    @classmethod
    def new(
        cls,
        *,
        id: UUID,
        pet_owner_id: UUID,
        practice_id: UUID,
        by: UUID,
        now: datetime,
        request_type: RequestType = RequestType.NEW_CLIENT,
        awaiting: ConsentParty | None = None,
    ) -> Association:
        """A new association asked for ``by`` someone ``now``: pending while it awaits the
        consent of ``awaiting``, else approved at once by who asked (a practice linking a
        client of its own)."""
        approved = awaiting is None
        return cls(
            id=id,
            pet_owner_id=pet_owner_id,
            practice_id=practice_id,
            request_type=request_type,
            status=AssociationStatus.APPROVED if approved else AssociationStatus.PENDING,
            requested_by=by,
            created_at=now,
            updated_at=now,
            decided_by=by if approved else None,
            decided_at=now if approved else None,
            awaiting=awaiting,
        )

    @property
    def awaits_owner(self) -> bool:
        """Pending until the owner (through their own account) approves or rejects it."""
        return self.status is AssociationStatus.PENDING and self.awaiting is ConsentParty.OWNER

    @property
    def visible_to_practice(self) -> bool:
        """Whether the practice's staff see it (lists, decisions): not while it awaits the
        owner's consent, nor once the owner refused it."""
        return not (self.awaiting is ConsentParty.OWNER and self.status in HIDDEN_FROM_PRACTICE)

    def move_to(self, target: AssociationStatus, *, actor: UUID, now: datetime) -> Association:
        """Follow one edge of the workflow, recording who and when; 409 off the edges."""
        if target not in TRANSITIONS[self.status]:
            raise Conflict(
                f"An association that is {self.status.value} cannot become {target.value}.",
                code="illegal-transition",
                extra={"from": self.status.value, "to": target.value},
            )
        if target is AssociationStatus.INACTIVE:
            return replace(
                self, status=target, deactivated_by=actor, deactivated_at=now, updated_at=now
            )
        return replace(self, status=target, decided_by=actor, decided_at=now, updated_at=now)
