"""The pieces several use cases share (issue 14): one account maker for sign-up, the
admin command and invitations; one field list of what describes a pet and a practice;
one 404 for what is not in scope; one table of weak-password refusals."""

from __future__ import annotations

from dataclasses import fields
from uuid import uuid4

import pytest

from tests.fixtures.fakes import FakeClock, FakeHasher, SequentialIds
from vetchart.adapters.security.passwords import zxcvbn_guessability
from vetchart.domain.errors import NotFound, RuleViolation
from vetchart.domain.passwords import GuessabilityVerdict, Weakness, check_password
from vetchart.domain.pets import NewPet, Pet, PetDetails
from vetchart.domain.practices import NewPractice, Practice, PracticeDetails
from vetchart.domain.users import NewAccount, Role
from vetchart.services.accounts import AccountMaker, new_account
from vetchart.services.base import found

PASSWORD = "purple-otter-reads-maps-at-dawn"


def _maker() -> AccountMaker:
    return AccountMaker(
        ids=SequentialIds(),
        clock=FakeClock(),
        hasher=FakeHasher(),
        guessability=zxcvbn_guessability,
    )


def test_a_new_account_is_normalised_once_and_hides_its_password() -> None:
    account = NewAccount(
        email="  Ann.Vet@Example.COM ", full_name="  Ann   Vet ", password=PASSWORD
    )
    assert (account.email, account.full_name) == ("ann.vet@example.com", "Ann Vet")
    assert PASSWORD not in repr(account)


@pytest.mark.parametrize(
    ("sent", "rule"),
    [
        ({"email": "not-an-email", "full_name": "Ann"}, "email.invalid"),
        ({"email": "ann@example.com", "full_name": "   "}, "full_name.required"),
    ],
)
def test_a_new_account_refuses_a_bad_email_or_name_when_built(
    sent: dict[str, str], rule: str
) -> None:
    with pytest.raises(RuleViolation) as refused:
        NewAccount(**sent, password=PASSWORD)
    assert refused.value.rule == rule


async def test_the_maker_builds_an_active_account_of_the_role_given() -> None:
    maker = _maker()
    account = NewAccount(email="owner@example.com", full_name="Owner", password=PASSWORD)
    user = await maker.new(account, role=Role.PET_OWNER)
    assert (user.email, user.role, user.practice_id, user.is_active, user.mfa_enabled) == (
        "owner@example.com",
        Role.PET_OWNER,
        None,
        True,
        False,
    )
    assert user.password_hash.endswith(PASSWORD)
    assert user.created_at == user.updated_at == user.password_changed_at


async def test_the_maker_checks_the_role_and_the_password() -> None:
    maker = _maker()
    account = NewAccount(email="vet@example.com", full_name="Vet", password=PASSWORD)
    with pytest.raises(RuleViolation) as no_practice:
        await maker.new(account, role=Role.VET)
    assert no_practice.value.rule == "user.staff_needs_practice"
    weak = NewAccount(email="vet@example.com", full_name="Vet", password="password123")
    with pytest.raises(RuleViolation) as too_short:
        await maker.new(weak, role=Role.PET_OWNER)
    assert too_short.value.rule == "password.too_short"


async def test_loose_values_go_through_the_same_rules() -> None:
    """``new_account`` (accepted invitations) builds the same command and account."""
    with pytest.raises(RuleViolation) as refused:
        await new_account(
            email="bad",
            full_name="Staff",
            password=PASSWORD,
            role=Role.VET,
            practice_id=uuid4(),
            ids=SequentialIds(),
            clock=FakeClock(),
            hasher=FakeHasher(),
            guessability=zxcvbn_guessability,
        )
    assert refused.value.rule == "email.invalid"


def test_a_pet_and_its_creation_command_share_one_field_list() -> None:
    described = [f.name for f in fields(PetDetails)]
    assert [f.name for f in fields(NewPet)] == described
    assert set(described) < {f.name for f in fields(Pet)}
    practice = [f.name for f in fields(PracticeDetails)]
    assert [f.name for f in fields(NewPractice)] == practice
    assert set(practice) < {f.name for f in fields(Practice)}


def test_only_the_command_checks_and_normalises_what_was_sent() -> None:
    with pytest.raises(RuleViolation):
        NewPractice(name="Clinic", timezone="Mars/Olympus")
    assert NewPet(name="Rex", species=" Dog ").species == "dog"
    now = FakeClock().now()
    stored = Pet(
        id=uuid4(), owner_id=uuid4(), name="Rex", species=" Dog ", created_at=now, updated_at=now
    )
    assert stored.species == " Dog "  # a stored pet is taken as it is


def test_found_gives_the_value_or_a_404_naming_it() -> None:
    assert found(0, "Pet") == 0
    with pytest.raises(NotFound) as missing:
        found(None, "Medical record")
    assert missing.value.detail == "Medical record not found."


@pytest.mark.parametrize(
    ("weakness", "detail"),
    [
        (
            Weakness.BLOCKLISTED,
            "The password is on the blocklist of common or breached passwords (seen).",
        ),
        (
            Weakness.PATTERNED,
            "The password follows a trivial pattern (seen); choose something less predictable.",
        ),
    ],
)
def test_a_weak_password_is_refused_with_its_rule_and_the_explanation(
    weakness: Weakness, detail: str
) -> None:
    with pytest.raises(RuleViolation) as refused:
        check_password(
            "a-long-enough-password-to-pass-length",
            email="someone@example.com",
            guessability=lambda value, words: GuessabilityVerdict(weakness, "seen"),
        )
    assert (refused.value.rule, refused.value.detail) == (f"password.{weakness.value}", detail)
