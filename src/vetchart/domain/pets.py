"""Pets. Deactivated and reactivated, never deleted; versioned for If-Match."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from vetchart.domain.errors import RuleViolation

MAX_WEIGHT_KG = Decimal("1500")


class Sex(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


PET_EDITABLE_FIELDS = (
    "name",
    "species",
    "breed",
    "sex",
    "colour",
    "date_of_birth",
    "weight_kg",
    "microchip_id",
    "neutered",
    "allergies",
    "notes",
)


@dataclass
class Pet:
    id: UUID
    owner_id: UUID
    name: str
    species: str
    created_at: datetime
    updated_at: datetime
    breed: str | None = None
    sex: Sex | None = None
    colour: str | None = None
    date_of_birth: date | None = None
    weight_kg: Decimal | None = None
    microchip_id: str | None = None
    neutered: bool | None = None
    allergies: str | None = None
    notes: str | None = None
    is_active: bool = True
    version: int = 1


def normalize_species(species: str) -> str:
    value = " ".join(species.split()).lower()
    if not value:
        raise RuleViolation(
            "The species is required.", rule="pet.species_required", field="species"
        )
    return value


def normalize_microchip(microchip_id: str | None) -> str | None:
    if microchip_id is None:
        return None
    value = "".join(microchip_id.split()).upper()
    return value or None


def check_pet(pet: Pet, *, today: date) -> None:
    """The rules every pet satisfies (also enforced by database constraints)."""
    if not pet.name.strip():
        raise RuleViolation("The pet's name is required.", rule="pet.name_required", field="name")
    if pet.weight_kg is not None and not (Decimal(0) < pet.weight_kg <= MAX_WEIGHT_KG):
        raise RuleViolation(
            f"weight_kg must be above 0 and at most {MAX_WEIGHT_KG}.",
            rule="pet.weight_out_of_range",
            field="weight_kg",
        )
    if pet.date_of_birth is not None and pet.date_of_birth > today:
        raise RuleViolation(
            "The date of birth cannot be in the future.",
            rule="pet.date_of_birth_in_future",
            field="date_of_birth",
        )
