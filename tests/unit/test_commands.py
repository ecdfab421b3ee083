"""Commands: checked and normalised once when built; a change tells "not sent" (UNSET)
from "clear it" (None)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from vetchart.domain.appointments import (
    MAX_PETS_PER_APPOINTMENT,
    AppointmentChanges,
    AppointmentType,
    NewAppointment,
    NewVisit,
    VisitChanges,
)
from vetchart.domain.commands import UNSET, changed_fields, given
from vetchart.domain.errors import RuleViolation
from vetchart.domain.owners import NewOwner, OwnerChanges
from vetchart.domain.pets import NewPet, PetChanges
from vetchart.domain.practices import NewPractice, PracticeChanges
from vetchart.domain.records import RecordChanges
from vetchart.domain.users import ProfileChanges


def rule_of(error: pytest.ExceptionInfo[RuleViolation]) -> tuple[str, str | None]:
    return error.value.rule, error.value.field


def test_a_change_keeps_only_what_was_sent_and_tells_unset_from_none() -> None:
    changes = PetChanges(breed=None, notes="  kept as sent  ")
    assert changes.name is UNSET
    assert given(changes) == {"breed": None, "notes": "  kept as sent  "}
    assert given(PetChanges()) == {}


def test_pet_commands_normalise_once_and_refuse_a_cleared_name_or_species() -> None:
    pet = NewPet(name="  Rex   the  dog ", species=" Dog ", microchip_id=" 9851 2300 ")
    assert (pet.name, pet.species, pet.microchip_id) == ("Rex the dog", "dog", "98512300")
    with pytest.raises(RuleViolation) as refused:
        PetChanges(name=None)  # type: ignore[arg-type]
    assert rule_of(refused) == ("pet.name_required", "name")
    with pytest.raises(RuleViolation) as refused:
        PetChanges(species="   ")
    assert rule_of(refused) == ("pet.species_required", "species")


def test_owner_commands_normalise_name_email_and_blank_text() -> None:
    owner = NewOwner(full_name=" Ann   Smith ", email=" Ann@Example.COM ", phone="  ")
    assert (owner.full_name, owner.email, owner.phone) == ("Ann Smith", "ann@example.com", None)
    with pytest.raises(RuleViolation) as refused:
        OwnerChanges(full_name="   ")
    assert rule_of(refused) == ("full_name.required", "full_name")
    with pytest.raises(RuleViolation) as refused:
        OwnerChanges(email="not an email")
    assert rule_of(refused) == ("email.invalid", "email")
    assert given(OwnerChanges(address=" 1 Road ")) == {"address": "1 Road"}


def test_practice_commands_check_name_timezone_and_the_new_patients_flag() -> None:
    practice = NewPractice(name=" Riverside  Vets ", timezone="Europe/London", license_number=" ")
    assert (practice.name, practice.license_number) == ("Riverside Vets", None)
    with pytest.raises(RuleViolation) as refused:
        PracticeChanges(timezone="Mars/Olympus")
    assert rule_of(refused) == ("practice.timezone_invalid", "timezone")
    with pytest.raises(RuleViolation) as refused:
        PracticeChanges(name=None)  # type: ignore[arg-type]
    assert rule_of(refused) == ("practice.name_required", "name")
    with pytest.raises(RuleViolation) as refused:
        PracticeChanges(accepts_new_patients=None)  # type: ignore[arg-type]
    assert rule_of(refused) == ("practice.required", "accepts_new_patients")


def test_appointment_commands_check_time_pets_and_nulls() -> None:
    a, b = sorted([uuid4(), uuid4()])
    booked = NewAppointment(
        pet_owner_id=uuid4(),
        pet_ids=(b, a, b),
        assigned_vet_id=uuid4(),
        start_at=datetime(2030, 1, 1, 9, tzinfo=UTC),
        duration_minutes=30,
        title="  Annual   check ",
        notes="   ",
    )
    assert (booked.pet_ids, booked.title, booked.notes) == ((a, b), "Annual check", None)
    assert booked.appointment_type is AppointmentType.CHECKUP
    with pytest.raises(RuleViolation) as refused:
        AppointmentChanges(pet_ids=tuple(uuid4() for _ in range(MAX_PETS_PER_APPOINTMENT + 1)))
    assert rule_of(refused) == ("appointment.pets", "pet_ids")
    with pytest.raises(RuleViolation) as refused:
        AppointmentChanges(start_at=datetime(2030, 1, 1, 9))
    assert rule_of(refused) == ("appointment.naive_start", "start_at")
    with pytest.raises(RuleViolation) as refused:
        AppointmentChanges(title=None)  # type: ignore[arg-type]
    assert refused.value.detail == "title cannot be null."
    with pytest.raises(RuleViolation) as refused:
        AppointmentChanges(appointment_type=None)  # type: ignore[arg-type]
    assert rule_of(refused) == ("appointment.required", "appointment_type")
    assert given(AppointmentChanges(notes=None)) == {"notes": None}


def test_visit_record_and_profile_commands() -> None:
    with pytest.raises(RuleViolation) as refused:
        NewVisit(visit_date=None)  # type: ignore[arg-type]
    assert refused.value.detail == "visit_date is required."
    with pytest.raises(RuleViolation) as refused:
        VisitChanges(visit_date=None)  # type: ignore[arg-type]
    assert refused.value.detail == "visit_date cannot be null."
    assert given(VisitChanges(appointment_id=None)) == {"appointment_id": None}

    with pytest.raises(RuleViolation) as refused:
        RecordChanges(title=None)  # type: ignore[arg-type]
    assert rule_of(refused) == ("medical_record.title_required", "title")
    amendment = RecordChanges(diagnosis="Otitis", amendment_reason="late")
    assert amendment.content() == {"diagnosis": "Otitis"}

    assert ProfileChanges(" Dr  Who ").full_name == "Dr Who"
    assert ProfileChanges().full_name is None


def test_changed_fields_are_the_sent_values_that_differ() -> None:
    pet = NewPet(name="Rex", species="dog", breed="Collie")
    assert changed_fields(pet, {"name": "Rex", "breed": "Beagle", "notes": None}) == ["breed"]
