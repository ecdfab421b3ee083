"""Pets. Deactivated and reactivated, never deleted; versioned for If-Match."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from vetchart.domain.commands import UNSET, Unset, normalise, sent_null
from vetchart.domain.errors import RuleViolation

MAX_WEIGHT_KG = Decimal("1500")


class Sex(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class PetDetails:
    """What describes a pet: what is sent to register one (:class:`NewPet`), and what
    every stored :class:`Pet` has besides its identity and state."""

    name: str
    species: str
    breed: str | None = None
    sex: Sex | None = None
    colour: str | None = None
    date_of_birth: date | None = None
    weight_kg: Decimal | None = None
    microchip_id: str | None = None
    neutered: bool | None = None
    allergies: str | None = None
    notes: str | None = None


@dataclass(frozen=True, kw_only=True)
class Pet(PetDetails):
    id: UUID
    owner_id: UUID
    created_at: datetime
    updated_at: datetime
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


# --------------------------------------------------------------------------- commands


def _check_fields(command: NewPet | PetChanges) -> None:
    """The checks of a pet's fields as sent, once, when a command is built; the rules of
    the whole pet (``check_pet``) follow when it is applied."""
    for key in ("name", "species"):
        if sent_null(command, key):
            raise RuleViolation(f"{key} cannot be null.", rule=f"pet.{key}_required", field=key)
    normalise(command, "name", lambda name: " ".join(str(name).split()))
    normalise(command, "species", lambda species: normalize_species(str(species)))
    normalise(command, "microchip_id", normalize_microchip)


@dataclass(frozen=True, kw_only=True)
class NewPet(PetDetails):
    """A pet to register (``POST /pets``)."""

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True, kw_only=True)
class PetChanges:
    """A change of a pet (``PATCH /pets/{id}``): ``UNSET`` leaves a field as it is."""

    name: str | Unset = UNSET
    species: str | Unset = UNSET
    breed: str | Unset | None = UNSET
    sex: Sex | Unset | None = UNSET
    colour: str | Unset | None = UNSET
    date_of_birth: date | Unset | None = UNSET
    weight_kg: Decimal | Unset | None = UNSET
    microchip_id: str | Unset | None = UNSET
    neutered: bool | Unset | None = UNSET
    allergies: str | Unset | None = UNSET
    notes: str | Unset | None = UNSET

    def __post_init__(self) -> None:
        _check_fields(self)
