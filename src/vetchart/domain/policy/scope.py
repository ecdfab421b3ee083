"""Scope: whose data an actor may see, as domain rules (pure predicates and scopes).

- Practices: a deactivated practice exists for SYSTEM_ADMIN only; a practice's own
  business (staff, appointments, follow-ups, associations, visits) is its staff's and
  SYSTEM_ADMIN's; every field of a practice is shown to those, the directory to others.
- Clients: :class:`ClientScope` says which pet owners (and so pets, records, visits,
  appointments) an actor sees; ``adapters/db/scope.py`` turns it into the one SQL
  condition of single reads and lists alike.
- Users, the audit log, associations: who sees which.

Nothing here raises for a refusal except :func:`audit_scope`'s defensive check: the
predicates answer, ``policy.require`` (enforce.py) turns a "no" into 404 or 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from vetchart.domain.errors import Forbidden
from vetchart.domain.owners import Association
from vetchart.domain.policy.principal import Principal
from vetchart.domain.practices import Practice
from vetchart.domain.users import STAFF_ROLES, Role

# --------------------------------------------------------------------------- practices


@dataclass(frozen=True)
class PracticeFacts:
    """What the access rules and the practice-local day need to know of a practice."""

    id: UUID
    is_active: bool
    timezone: str


def practice_exists_for(actor: Principal, practice: Practice | PracticeFacts | None) -> bool:
    """A deactivated practice exists for SYSTEM_ADMIN only; for everyone else it is 404."""
    return practice is not None and (practice.is_active or actor.role is Role.SYSTEM_ADMIN)


def is_practice_member(actor: Principal, practice_id: UUID) -> bool:
    """A practice's own business is its staff's, and SYSTEM_ADMIN's."""
    return actor.role is Role.SYSTEM_ADMIN or (
        actor.role in STAFF_ROLES and actor.practice_id == practice_id
    )


def sees_practice_details(actor: Principal, practice_id: UUID) -> bool:
    """Staff of the practice and SYSTEM_ADMIN see every field; others the directory."""
    return is_practice_member(actor, practice_id)


def staff_practice(actor: Principal) -> UUID | None:
    """The practice the actor works for: a staff member's; None for a pet owner and for
    SYSTEM_ADMIN (who belongs to no practice)."""
    return actor.practice_id if actor.role in STAFF_ROLES else None


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class ClientScope:
    """Which pet owners, and so which pets, an actor can see. Exactly one field is set.

    - ``everything``: SYSTEM_ADMIN (every such read is audited);
    - ``practice_id``: staff see owners with an *approved* association with their practice;
    - ``owner_user_id``: a PET_OWNER sees the owner profile linked to their account.

    The database adapter turns this into one SQL condition used by single reads and lists
    alike (``adapters/db/scope.py``), so a list can never show what a single read would
    refuse.
    """

    everything: bool = False
    practice_id: UUID | None = None
    owner_user_id: UUID | None = None


def client_scope(actor: Principal) -> ClientScope:
    if actor.role is Role.SYSTEM_ADMIN:
        return ClientScope(everything=True)
    if actor.role in STAFF_ROLES:
        assert actor.practice_id is not None
        return ClientScope(practice_id=actor.practice_id)
    return ClientScope(owner_user_id=actor.user_id)


def owner_account(actor: Principal) -> UUID | None:
    """The account an owner profile made by the actor is linked to: a PET_OWNER's own
    (they make their own profile); None for staff (they make their practice's clients)."""
    return actor.user_id if actor.role is Role.PET_OWNER else None


def sees_association(actor: Principal, association: Association, *, owner_in_scope: bool) -> bool:
    """Staff see their practice's associations, except those awaiting (or refused by) the
    owner's consent; SYSTEM_ADMIN sees every one; a pet owner sees those of an owner in
    their client scope (``owner_in_scope``: the caller looked it up, for owners only;
    see :func:`needs_owner_lookup`)."""
    if actor.role is Role.SYSTEM_ADMIN:
        return True
    if actor.role in STAFF_ROLES:
        return actor.practice_id == association.practice_id and association.visible_to_practice
    return owner_in_scope


def needs_owner_lookup(actor: Principal) -> bool:
    """Whether :func:`sees_association` needs to know if the association's owner is in
    the actor's client scope (a pet owner's sight; staff and admins need no lookup)."""
    return client_scope(actor).owner_user_id is not None


# --------------------------------------------------------------------------- users


def sees_user(actor: Principal, target_practice_id: UUID | None) -> bool:
    """Administration of another user: a SYSTEM_ADMIN sees everyone; a PRACTICE_ADMIN
    only the staff of their own practice. Anyone else's users do not exist for them."""
    if actor.role is Role.SYSTEM_ADMIN:
        return True
    return actor.role is Role.PRACTICE_ADMIN and target_practice_id == actor.practice_id


def user_list_scope(actor: Principal) -> UUID | None:
    """The practice a user list is restricted to (None: all, for SYSTEM_ADMIN). Asked
    after ``require(actor, Action.USER_LIST)``."""
    if actor.role is Role.SYSTEM_ADMIN:
        return None
    assert actor.practice_id is not None  # a PRACTICE_ADMIN always has one
    return actor.practice_id


# --------------------------------------------------------------------------- audit log


def audit_scope(actor: Principal) -> UUID | None:
    """The practice whose audit events the actor may search: None means every practice
    (SYSTEM_ADMIN); a PRACTICE_ADMIN sees their own practice's only. Asked after
    ``require(actor, Action.AUDIT_SEARCH)``."""
    if actor.role is Role.SYSTEM_ADMIN:
        return None
    if actor.practice_id is None:  # a PRACTICE_ADMIN always has one (CHECK constraint)
        raise Forbidden("You are not allowed to do this.")
    return actor.practice_id
