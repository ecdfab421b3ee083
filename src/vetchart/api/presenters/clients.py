"""Practices, pet owners, pets and associations as responses."""

from __future__ import annotations

from typing import Any

from vetchart.api.schemas.clients import (
    AssociationOut,
    InvitationOut,
    PetOut,
    PetOwnerOut,
    PetWithOwnerOut,
    PracticeDirectoryOut,
    PracticeOut,
)
from vetchart.api.schemas.lifecycle import InvitationStateOut
from vetchart.domain.invitations import InvitationStatus
from vetchart.domain.policy import Principal, sees_practice_details
from vetchart.domain.practices import DIRECTORY_FIELDS, Practice
from vetchart.services.ports.clients import AssociationView, PetView
from vetchart.services.ports.identity import Invitation
from vetchart.services.ports.paging import Row
from vetchart.services.practices import IssuedInvitation

PET_FIELDS = tuple(PetOut.model_fields)
OWNER_FIELDS = tuple(PetOwnerOut.model_fields)
_OWNER_COLUMNS = tuple(f"owner__{name}" for name in OWNER_FIELDS)


def pet_item(row: Row) -> dict[str, Any]:
    """A pet with its owner (PetWithOwnerOut) from a row whose owner columns are
    prefixed ``owner__``."""
    item = {name: row[name] for name in PET_FIELDS}
    item["owner"] = dict(zip(OWNER_FIELDS, (row[c] for c in _OWNER_COLUMNS), strict=True))
    return item


def owner_item(row: Row) -> dict[str, Any]:
    """An owner (PetOwnerOut) from a row of its columns."""
    return {name: row[name] for name in OWNER_FIELDS}


def pet_with_owner(view: PetView) -> PetWithOwnerOut:
    return PetWithOwnerOut.model_validate(
        {**vars(view.pet), "owner": PetOwnerOut.model_validate(view.owner)}
    )


def practice_out(actor: Principal, practice: Practice) -> PracticeOut | PracticeDirectoryOut:
    if sees_practice_details(actor, practice.id):
        return PracticeOut.model_validate(practice)
    return PracticeDirectoryOut.model_validate(
        {field: getattr(practice, field) for field in DIRECTORY_FIELDS}
    )


def association_out(view: AssociationView) -> AssociationOut:
    return AssociationOut.model_validate(
        {
            **vars(view.association),
            "owner_name": view.owner_name,
            "practice_name": view.practice_name,
        }
    )


def invitation_out(issued: IssuedInvitation) -> InvitationOut:
    return InvitationOut.from_object(issued.invitation, token=issued.token, mail_sent=True)


def invitation_state_out(invitation: Invitation, status: InvitationStatus) -> InvitationStateOut:
    """An invitation for its practice's admins: its state, never a token."""
    return InvitationStateOut.from_object(invitation, status=status)
