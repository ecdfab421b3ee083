"""Erasure of an owner's personal data (GDPR art. 17) where the law keeps the medical
record: what is replaced, by what, and what stays.

Medical records are legal documents (veterinary boards require them to be kept), and
their history is append-only: erasure never touches a record, a record event or an audit
row. It pseudonymises the *profile* rows instead, so the records stay linked, by id, to a
pet and an owner that no longer say who the person was:

- the owner: ``full_name`` becomes a pseudonym (``Erased owner <8 hex of the id>``);
  ``email``, ``phone``, ``address`` and ``preferred_communication`` are cleared; inactive,
  ``erased_at`` set;
- each pet: ``name`` becomes ``Erased pet <8 hex>``; ``microchip_id`` (it resolves to the
  owner in chip registries) and the free-text ``notes`` are cleared; species, breed, sex,
  colour, date of birth, weight, neutered and allergies stay (clinical facts the records
  are read against); inactive;
- the linked PET_OWNER account: email ``erased-<id hex>@erased.invalid``, name
  ``Erased user``, an unusable password hash and no MFA secrets; inactive, sessions
  revoked.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from vetchart.domain.owners import PetOwner
from vetchart.domain.pets import Pet
from vetchart.domain.users import User

ERASED_USER_NAME = "Erased user"
ERASED_EMAIL_DOMAIN = "erased.invalid"
# Not an Argon2 (or any) hash: no password verifies against it.
UNUSABLE_PASSWORD_HASH = "!erased"  # noqa: S105 - a marker, no secret


def pseudonym(prefix: str, object_id: UUID) -> str:
    """A stable pseudonym from the object's id (its random tail, not its time prefix)."""
    return f"{prefix} {object_id.hex[-8:]}"


def erased_owner(owner: PetOwner, now: datetime) -> PetOwner:
    return replace(
        owner,
        full_name=pseudonym("Erased owner", owner.id),
        email=None,
        phone=None,
        address=None,
        preferred_communication=None,
        is_active=False,
        erased_at=now,
        updated_at=now,
    )


def erased_pet(pet: Pet, now: datetime) -> Pet:
    return replace(
        pet,
        name=pseudonym("Erased pet", pet.id),
        microchip_id=None,
        notes=None,
        is_active=False,
        updated_at=now,
        version=pet.version + 1,
    )


def erased_user(user: User, now: datetime) -> User:
    return replace(
        user,
        email=f"erased-{user.id.hex}@{ERASED_EMAIL_DOMAIN}",
        full_name=ERASED_USER_NAME,
        is_active=False,
        password_hash=UNUSABLE_PASSWORD_HASH,
        mfa_enabled=False,
        mfa_secret=None,
        mfa_pending_secret=None,
        mfa_last_timestep=None,
        updated_at=now,
    )
