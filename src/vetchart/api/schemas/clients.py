"""Practices, invitations, pet owners, associations and pets."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field

from vetchart.api.schemas.bounded import BoundedDate
from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.domain.owners import (
    AssociationStatus,
    ConsentParty,
    PreferredCommunication,
    RequestType,
)
from vetchart.domain.pets import MAX_WEIGHT_KG, Sex
from vetchart.domain.users import Role

Short = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=5000)]
Email = Annotated[str, Field(min_length=3, max_length=320, examples=["frontdesk@example.com"])]
Phone = Annotated[str, Field(min_length=1, max_length=50, examples=["+44 20 7946 0000"])]


# --------------------------------------------------------------------------- practices


class _PracticeIn(RequestModel):
    """A practice's own fields, each optional (an update's; a new practice requires some)."""

    name: Short | None = None
    timezone: Short | None = None
    email: Email | None = None
    phone: Phone | None = None
    address_line1: Short | None = None
    address_line2: Short | None = None
    city: Short | None = None
    region: Short | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    country: Short | None = None
    website: Annotated[str, Field(max_length=500)] | None = None
    license_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    accepts_new_patients: bool | None = None


class PracticeCreateIn(_PracticeIn):
    name: Short
    timezone: Short = Field(examples=["Europe/London"], description="IANA time zone name.")
    accepts_new_patients: bool = True


class PracticeUpdateIn(_PracticeIn):
    pass


class PracticeDirectoryOut(ResponseModel):
    """What everyone signed in sees."""

    id: UUID
    name: str
    email: str | None
    phone: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    website: str | None
    timezone: str
    accepts_new_patients: bool


class PracticeOut(PracticeDirectoryOut):
    """What the practice's staff and SYSTEM_ADMIN see."""

    license_number: str | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# --------------------------------------------------------------------------- invitations


class InvitationIn(RequestModel):
    email: Email
    role: Role = Field(description="A staff role: VET_STAFF, VET or PRACTICE_ADMIN.")


class InvitationOut(ResponseModel):
    id: UUID
    practice_id: UUID
    email: str
    role: Role
    expires_at: datetime
    created_at: datetime
    token: str = Field(description="Single use, valid 7 days; also sent by mail.")
    mail_sent: bool = Field(
        default=True,
        description="The invitation mail is queued with the invitation (same transaction) "
        "and sent by the worker, retried until it goes out.",
    )


class InvitationAcceptIn(RequestModel):
    token: Annotated[str, Field(min_length=1, max_length=512)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    full_name: Short


# --------------------------------------------------------------------------- pet owners


class PetOwnerCreateIn(RequestModel):
    full_name: Short
    email: Email | None = None
    phone: Phone | None = None
    address: Annotated[str, Field(max_length=1000)] | None = None
    preferred_communication: PreferredCommunication | None = None


class PetOwnerUpdateIn(RequestModel):
    full_name: Short | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Annotated[str, Field(max_length=1000)] | None = None
    preferred_communication: PreferredCommunication | None = None


class PetOwnerOut(ResponseModel):
    id: UUID
    full_name: str
    email: str | None
    phone: str | None
    address: str | None
    preferred_communication: PreferredCommunication | None
    user_id: UUID | None
    created_at: datetime
    updated_at: datetime
    is_active: bool = Field(
        default=True,
        description="False once deactivated (POST /pet-owners/{id}/deactivate) or erased: "
        "no new pets, associations or appointments.",
    )
    erased_at: datetime | None = Field(
        default=None,
        description="When the owner's personal data was erased (POST /pet-owners/{id}/erase); "
        "the name is then a pseudonym and the contact fields are empty.",
    )


# --------------------------------------------------------------------------- associations


class AssociationIn(RequestModel):
    pet_owner_id: UUID
    practice_id: UUID
    request_type: RequestType


class AssociationOut(ResponseModel):
    id: UUID
    pet_owner_id: UUID
    practice_id: UUID
    request_type: RequestType
    status: AssociationStatus
    requested_by: UUID
    decided_by: UUID | None
    decided_at: datetime | None
    deactivated_by: UUID | None
    deactivated_at: datetime | None
    awaiting: ConsentParty | None = Field(
        description="Whose consent the association awaits while pending: `practice` (the "
        "owner asked; its PRACTICE_ADMIN or VET decides) or `owner` (a practice asked for an "
        "owner it did not create; the owner decides). Kept once decided; null for an "
        "association approved at once."
    )
    created_at: datetime
    updated_at: datetime
    owner_name: str | None = None
    practice_name: str | None = None


# --------------------------------------------------------------------------- pets

Weight = Annotated[Decimal, Field(gt=0, le=MAX_WEIGHT_KG, max_digits=7, decimal_places=3)]
WEIGHT_STEP = Decimal("0.001")


def _stored_weight(value: Decimal) -> Decimal:
    """The weight as stored (numeric(7, 3)), so a pet reads the same whether it comes
    from the request just made or from the database (6.25 and 6.250 are one weight)."""
    return value.quantize(WEIGHT_STEP)


WeightOut = Annotated[Decimal, AfterValidator(_stored_weight)]


class _PetIn(RequestModel):
    """A pet's own fields, each optional (an update's; a new pet requires some)."""

    name: Short | None = None
    species: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    breed: Short | None = None
    sex: Sex | None = None
    colour: Short | None = None
    date_of_birth: BoundedDate | None = None
    weight_kg: Weight | None = None
    microchip_id: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    neutered: bool | None = None
    allergies: Text | None = None
    notes: Text | None = None


class PetCreateIn(_PetIn):
    owner_id: UUID
    name: Short
    species: Annotated[str, Field(min_length=1, max_length=100, examples=["dog"])]


class PetUpdateIn(_PetIn):
    pass


class PetOut(ResponseModel):
    id: UUID
    owner_id: UUID
    name: str
    species: str
    breed: str | None
    sex: Sex | None
    colour: str | None
    date_of_birth: date | None
    weight_kg: WeightOut | None
    microchip_id: str | None
    neutered: bool | None
    allergies: str | None
    notes: str | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class PetWithOwnerOut(PetOut):
    owner: PetOwnerOut
