"""The access rules that are more than a table lookup: who may do an allowed action to
*this* object. Pure predicates; ``policy.require`` (enforce.py) raises on a "no".

- medical records: :func:`may_amend_record` (amend, mark entered in error, attach),
  :func:`may_sign`;
- associations: :func:`may_associate` (asking), :func:`association_step_action` (whose
  step a decision is);
- users: :func:`may_assign_role`, :func:`may_invite_as`, :func:`must_enrol_mfa`;
- appointments: :func:`may_be_assigned` (who can be an appointment's vet).
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from vetchart.domain.owners import Association, AssociationStatus
from vetchart.domain.policy.matrix import Action
from vetchart.domain.policy.principal import Principal
from vetchart.domain.users import STAFF_ROLES, Role


class AuthoredRecord(Protocol):
    """What the record rules read of a medical record."""

    @property
    def author_id(self) -> UUID: ...

    @property
    def practice_id(self) -> UUID: ...


# --------------------------------------------------------------------------- records


def may_amend_record(actor: Principal, record: AuthoredRecord) -> bool:
    """The author; or a VET / PRACTICE_ADMIN of the authoring practice."""
    if actor.user_id == record.author_id:
        return True
    return actor.role in (Role.VET, Role.PRACTICE_ADMIN) and actor.practice_id == record.practice_id


def may_sign(actor: Principal, record: AuthoredRecord) -> bool:
    """A vet of the authoring practice (the matrix lets only a VET sign at all)."""
    return actor.practice_id == record.practice_id


# --------------------------------------------------------------------------- associations


def may_associate(actor: Principal, practice_id: UUID) -> bool:
    """Staff ask for their own practice only; a pet owner asks any practice for
    themselves (whether the owner profile is theirs is the client scope's question)."""
    return actor.role not in STAFF_ROLES or actor.practice_id == practice_id


def association_step_action(association: Association, target: AssociationStatus) -> Action:
    """Whose step taking ``association`` to ``target`` is, as the action it needs:

    - a pending association that awaits the owner's consent (a practice asked for an
      owner it did not create) is approved or rejected by that owner, through their own
      ``PET_OWNER`` account (``association.consent``); never by the practice that asked;
    - every other step is the practice's (``association.decide``, by its staff only): its
      ``PRACTICE_ADMIN`` or ``VET`` approves or rejects what an owner asked for, and
      deactivates an approved association. An owner does not decide their own request.
    """
    if association.awaits_owner and target is not AssociationStatus.INACTIVE:
        return Action.ASSOCIATION_CONSENT
    return Action.ASSOCIATION_DECIDE


# --------------------------------------------------------------------------- owners


class Custody(Protocol):
    """What the owner lifecycle rules read of an owner (policy.resources.OwnerCustody)."""

    @property
    def created_by_practice_id(self) -> UUID | None: ...

    @property
    def has_account(self) -> bool: ...

    @property
    def other_practices(self) -> bool: ...


def may_deactivate_owner(actor: Principal, owner: Custody) -> bool:
    """SYSTEM_ADMIN any owner; a PRACTICE_ADMIN an owner their practice created (the
    record is shared with the owner's other practices: a practice ends its own link with
    ``/associations/{id}/deactivate``)."""
    if actor.role is Role.SYSTEM_ADMIN:
        return True
    return actor.practice_id is not None and owner.created_by_practice_id == actor.practice_id


def may_erase_owner(actor: Principal, owner: Custody) -> bool:
    """SYSTEM_ADMIN any owner; a PRACTICE_ADMIN only a client that is theirs alone: made
    by their practice, with no PET_OWNER account (the person then asks the platform), and
    no open association with another practice (whose records the erasure would touch)."""
    if actor.role is Role.SYSTEM_ADMIN:
        return True
    return (
        may_deactivate_owner(actor, owner) and not owner.has_account and not owner.other_practices
    )


# --------------------------------------------------------------------------- users


def may_assign_role(current: Role, new: Role) -> bool:
    """Roles given through user administration are staff roles, to staff users only."""
    return new in STAFF_ROLES and current in STAFF_ROLES


def may_invite_as(role: Role) -> bool:
    """Invitations bring in staff only (owners sign up alone; admins come from the CLI)."""
    return role in STAFF_ROLES


def must_enrol_mfa(actor: Principal, required_roles: frozenset[Role]) -> bool:
    """True while a user whose role requires MFA has not enrolled yet."""
    return actor.role in required_roles and not actor.mfa_enabled


# --------------------------------------------------------------------------- appointments


class Assignee(Protocol):
    @property
    def role(self) -> Role: ...

    @property
    def practice_id(self) -> UUID | None: ...

    @property
    def is_active(self) -> bool: ...


def may_be_assigned(user: Assignee, practice_id: UUID) -> bool:
    """An appointment's vet: an active VET of the appointment's practice."""
    return user.role is Role.VET and user.practice_id == practice_id and user.is_active
