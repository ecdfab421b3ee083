"""The domain rules of invitation management and the owner lifecycle: an invitation's
state, who may join a practice with an existing account, who may deactivate or erase an
owner (policy), and what erasure replaces (domain/erasure.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from vetchart.domain.erasure import erased_owner, erased_pet, erased_user
from vetchart.domain.errors import Conflict, Forbidden, NotFound
from vetchart.domain.invitations import (
    InvitationStatus,
    check_existing_account_may_join,
    invitation_status,
)
from vetchart.domain.owners import PetOwner, PreferredCommunication
from vetchart.domain.pets import Pet, Sex
from vetchart.domain.policy import Action, InvitationRef, OwnerCustody, Principal, require
from vetchart.domain.users import Role, User

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
HERE = uuid.UUID("11111111-1111-4111-8111-111111111111")
THERE = uuid.UUID("22222222-2222-4222-8222-222222222222")


def _actor(role: Role, practice_id: uuid.UUID | None = None) -> Principal:
    if practice_id is None and role in (Role.VET_STAFF, Role.VET, Role.PRACTICE_ADMIN):
        practice_id = HERE
    return Principal(uuid.uuid4(), role, practice_id, uuid.uuid4(), False)


@pytest.mark.parametrize(
    ("accepted", "revoked", "expires_in", "expected"),
    [
        (None, None, timedelta(days=1), InvitationStatus.PENDING),
        (None, None, timedelta(0), InvitationStatus.EXPIRED),
        (None, None, -timedelta(days=1), InvitationStatus.EXPIRED),
        (NOW, None, timedelta(days=1), InvitationStatus.ACCEPTED),
        (NOW, None, -timedelta(days=1), InvitationStatus.ACCEPTED),
        (None, NOW, timedelta(days=1), InvitationStatus.REVOKED),
        (None, NOW, -timedelta(days=1), InvitationStatus.REVOKED),
    ],
)
def test_an_invitations_state(
    accepted: datetime | None, revoked: datetime | None, expires_in: timedelta, expected: str
) -> None:
    status = invitation_status(
        accepted_at=accepted, revoked_at=revoked, expires_at=NOW + expires_in, now=NOW
    )
    assert status == expected


@pytest.mark.parametrize(
    ("role", "practice_id", "has_profile", "refusal"),
    [
        (Role.PET_OWNER, None, False, None),
        (Role.PET_OWNER, None, True, "owner-profile-linked"),
        (Role.VET_STAFF, THERE, False, None),
        (Role.VET, THERE, False, None),
        (Role.PRACTICE_ADMIN, THERE, False, None),
        (Role.VET_STAFF, HERE, False, "already-staff"),
        (Role.PRACTICE_ADMIN, HERE, False, "already-staff"),
        (Role.SYSTEM_ADMIN, None, False, "account-not-eligible"),
    ],
)
def test_who_may_join_with_an_existing_account(
    role: Role, practice_id: uuid.UUID | None, has_profile: bool, refusal: str | None
) -> None:
    def join() -> None:
        check_existing_account_may_join(
            role=role,
            practice_id=practice_id,
            has_owner_profile=has_profile,
            invitation_practice_id=HERE,
        )

    if refusal is None:
        join()
        return
    with pytest.raises(Conflict) as caught:
        join()
    assert caught.value.code == refusal


@pytest.mark.parametrize("role", list(Role))
def test_an_invitation_exists_for_its_practice_and_system_admin_only(role: Role) -> None:
    for practice_id in (HERE, THERE):
        actor = _actor(role)
        try:
            require(actor, Action.INVITATION_MANAGE, InvitationRef(practice_id))
            outcome = "ok"
        except Forbidden:
            outcome = "403"
        except NotFound:
            outcome = "404"
        if role is Role.SYSTEM_ADMIN:
            assert outcome == "ok"
        elif role is Role.PRACTICE_ADMIN:
            assert outcome == ("ok" if practice_id == HERE else "404")
        else:
            assert outcome == "403"  # the matrix first: no invitation management at all


MADE_HERE_ALONE = OwnerCustody(HERE, has_account=False, other_practices=False)
MADE_HERE_SHARED = OwnerCustody(HERE, has_account=False, other_practices=True)
MADE_HERE_ACCOUNT = OwnerCustody(HERE, has_account=True, other_practices=False)
MADE_THERE = OwnerCustody(THERE, has_account=False, other_practices=False)
SELF_REGISTERED = OwnerCustody(None, has_account=True, other_practices=False)


@pytest.mark.parametrize(
    ("custody", "admin_deactivates", "admin_erases"),
    [
        (MADE_HERE_ALONE, True, True),
        (MADE_HERE_SHARED, True, False),
        (MADE_HERE_ACCOUNT, True, False),
        (MADE_THERE, False, False),
        (SELF_REGISTERED, False, False),
    ],
)
def test_who_may_deactivate_and_erase_an_owner(
    custody: OwnerCustody, admin_deactivates: bool, admin_erases: bool
) -> None:
    def allowed(actor: Principal, action: Action) -> bool:
        refusal: Forbidden | None = None
        try:
            require(actor, action, custody)
        except Forbidden as refused:
            refusal = refused
        if refusal is not None:
            assert refusal.extra == {"action": action.value}
        return refusal is None

    admin = _actor(Role.PRACTICE_ADMIN)
    assert allowed(admin, Action.PET_OWNER_DEACTIVATE) is admin_deactivates
    assert allowed(admin, Action.PET_OWNER_ERASE) is admin_erases
    operator = _actor(Role.SYSTEM_ADMIN)
    assert allowed(operator, Action.PET_OWNER_DEACTIVATE)
    assert allowed(operator, Action.PET_OWNER_ERASE)
    for role in (Role.PET_OWNER, Role.VET_STAFF, Role.VET):
        assert not allowed(_actor(role), Action.PET_OWNER_DEACTIVATE)
        assert not allowed(_actor(role), Action.PET_OWNER_ERASE)


def test_erasure_replaces_the_personal_data_and_keeps_the_clinical_facts() -> None:
    owner = PetOwner(
        id=uuid.uuid4(),
        full_name="Robin Person",
        created_at=NOW,
        updated_at=NOW,
        email="robin@example.com",
        phone="+44 20 7946 0000",
        address="1 Real Street",
        preferred_communication=PreferredCommunication.EMAIL,
        user_id=uuid.uuid4(),
        created_by_practice_id=HERE,
    )
    later = NOW + timedelta(hours=1)
    erased = erased_owner(owner, later)
    assert erased.full_name == f"Erased owner {owner.id.hex[-8:]}"
    assert (erased.email, erased.phone, erased.address) == (None, None, None)
    assert erased.preferred_communication is None
    assert (erased.is_active, erased.erased_at, erased.updated_at) == (False, later, later)
    assert (erased.id, erased.user_id, erased.created_by_practice_id) == (
        owner.id,
        owner.user_id,
        HERE,
    )
    pet = Pet(
        id=uuid.uuid4(),
        owner_id=owner.id,
        name="Pepper",
        species="dog",
        created_at=NOW,
        updated_at=NOW,
        breed="Collie",
        sex=Sex.FEMALE,
        date_of_birth=date(2020, 1, 1),
        weight_kg=Decimal("18.5"),
        microchip_id="985141000123456",
        allergies="Penicillin",
        notes="Owner lives at 1 Real Street",
        version=3,
    )
    gone = erased_pet(pet, later)
    assert gone.name == f"Erased pet {pet.id.hex[-8:]}"
    assert (gone.microchip_id, gone.notes, gone.is_active, gone.version) == (None, None, False, 4)
    assert (gone.species, gone.breed, gone.sex, gone.date_of_birth) == (
        "dog",
        "Collie",
        Sex.FEMALE,
        date(2020, 1, 1),
    )
    assert (gone.weight_kg, gone.allergies) == (Decimal("18.5"), "Penicillin")
    user = User(
        id=uuid.uuid4(),
        email="robin@example.com",
        full_name="Robin Person",
        role=Role.PET_OWNER,
        practice_id=None,
        is_active=True,
        password_hash="$argon2id$...",
        mfa_enabled=True,
        created_at=NOW,
        updated_at=NOW,
        mfa_secret="sealed",
    )
    account = erased_user(user, later)
    assert account.email == f"erased-{user.id.hex}@erased.invalid"
    assert account.full_name == "Erased user"
    assert (account.is_active, account.mfa_enabled, account.mfa_secret) == (False, False, None)
    assert account.password_hash != user.password_hash
    assert not account.password_hash.startswith("$argon2")
