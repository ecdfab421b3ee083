"""The access policy: a permission matrix (role x action) plus object-level scope rules.

Services call it; routes never decide access. Pure functions of (actor, action, resource).
Out-of-scope objects are reported as not found (404), visible ones with a forbidden action
as forbidden (403): ``authorize`` raises ``Forbidden``, scope helpers raise ``NotFound``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from vetchart.domain.errors import Forbidden, NotFound
from vetchart.domain.owners import Association, AssociationStatus
from vetchart.domain.practices import Practice
from vetchart.domain.users import STAFF_ROLES, Role


class Action(enum.StrEnum):
    OWN_PROFILE_READ = "own_profile.read"
    OWN_PROFILE_UPDATE = "own_profile.update"
    OWN_SESSIONS_MANAGE = "own_sessions.manage"
    MFA_MANAGE = "mfa.manage"
    USER_LIST = "user.list"
    USER_READ = "user.read"
    USER_UPDATE = "user.update"
    USER_UNLOCK = "user.unlock"
    USER_CREATE_ADMIN = "user.create_admin"
    PRACTICE_CREATE = "practice.create"
    PRACTICE_READ = "practice.read"
    PRACTICE_UPDATE = "practice.update"
    PRACTICE_DEACTIVATE = "practice.deactivate"
    PRACTICE_STAFF_LIST = "practice.staff_list"
    INVITATION_CREATE = "invitation.create"
    PET_OWNER_CREATE = "pet_owner.create"
    PET_OWNER_READ = "pet_owner.read"
    PET_OWNER_UPDATE = "pet_owner.update"
    ASSOCIATION_CREATE = "association.create"
    ASSOCIATION_LIST = "association.list"
    ASSOCIATION_DECIDE = "association.decide"
    ASSOCIATION_CONSENT = "association.consent"
    PET_CREATE = "pet.create"
    PET_READ = "pet.read"
    PET_UPDATE = "pet.update"
    PET_DEACTIVATE = "pet.deactivate"
    MEDICAL_RECORD_CREATE = "medical_record.create"
    MEDICAL_RECORD_READ = "medical_record.read"
    MEDICAL_RECORD_AMEND = "medical_record.amend"
    MEDICAL_RECORD_SIGN = "medical_record.sign"
    FOLLOW_UPS_LIST = "follow_ups.list"
    AUDIT_SEARCH = "audit.search"
    ACCESS_LOG_READ = "access_log.read"
    APPOINTMENT_CREATE = "appointment.create"
    APPOINTMENT_READ = "appointment.read"
    APPOINTMENT_UPDATE = "appointment.update"
    VISIT_CREATE = "visit.create"
    VISIT_READ = "visit.read"
    VISIT_UPDATE = "visit.update"
    VISIT_SUMMARY_ACCEPT = "visit.summary_accept"
    ATTACHMENT_CREATE = "attachment.create"
    ATTACHMENT_READ = "attachment.read"
    DASHBOARD_READ = "dashboard.read"
    KB_DOCUMENT_MANAGE = "kb.document_manage"
    KB_READ = "kb.read"
    KB_QUERY = "kb.query"


# The matrix, as a table: x = allowed. Columns in the order of COLUMNS, headed HEADER.
COLUMNS = (Role.PET_OWNER, Role.VET_STAFF, Role.VET, Role.PRACTICE_ADMIN, Role.SYSTEM_ADMIN)
HEADER = ("action", "OWNER", "STAFF", "VET", "P_ADMIN", "S_ADMIN")
MATRIX = """
action                  OWNER  STAFF  VET  P_ADMIN  S_ADMIN
own_profile.read          x      x     x      x        x
own_profile.update        x      x     x      x        x
own_sessions.manage       x      x     x      x        x
mfa.manage                x      x     x      x        x
user.list                 -      -     -      x        x
user.read                 -      -     -      x        x
user.update               -      -     -      x        x
user.unlock               -      -     -      x        x
user.create_admin         -      -     -      -        x
practice.create           -      -     -      -        x
practice.read             x      x     x      x        x
practice.update           -      -     -      x        x
practice.deactivate       -      -     -      -        x
practice.staff_list       -      x     x      x        x
invitation.create         -      -     -      x        x
pet_owner.create          x      x     x      x        -
pet_owner.read            x      x     x      x        x
pet_owner.update          x      x     x      x        x
association.create        x      x     x      x        -
association.list          -      x     x      x        x
association.decide        -      -     x      x        -
association.consent       x      -     -      -        -
pet.create                x      x     x      x        -
pet.read                  x      x     x      x        x
pet.update                x      x     x      x        -
pet.deactivate            x      x     x      x        -
medical_record.create     -      x     x      x        -
medical_record.read       x      x     x      x        x
medical_record.amend      -      x     x      x        -
medical_record.sign       -      -     x      -        -
follow_ups.list           -      x     x      x        x
audit.search              -      -     -      x        x
access_log.read           x      x     x      x        x
appointment.create        -      x     x      x        -
appointment.read          x      x     x      x        x
appointment.update        -      x     x      x        -
visit.create              -      x     x      x        -
visit.read                x      x     x      x        x
visit.update              -      x     x      x        -
visit.summary_accept      -      -     x      -        -
attachment.create         -      x     x      x        -
attachment.read           x      x     x      x        x
dashboard.read            -      x     x      x        -
kb.document_manage        -      -     -      -        x
kb.read                   x      x     x      x        x
kb.query                  x      x     x      x        x
"""


def _parse(matrix: str) -> Mapping[Action, frozenset[Role]]:
    table: dict[Action, frozenset[Role]] = {}
    lines = [line.split() for line in matrix.strip().splitlines() if line.strip()]
    # The header is what a reader trusts: it must name the columns in the order of COLUMNS.
    if not lines or tuple(lines[0]) != HEADER:
        raise ValueError(f"the policy matrix header must read {' '.join(HEADER)!r}")
    for cells in lines[1:]:
        action, marks = Action(cells[0]), cells[1:]
        if len(marks) != len(COLUMNS) or set(marks) - {"x", "-"}:
            raise ValueError(f"malformed policy row for {action}")
        if action in table:
            raise ValueError(f"duplicate policy row for {action}")
        table[action] = frozenset(
            role for role, mark in zip(COLUMNS, marks, strict=True) if mark == "x"
        )
    missing = set(Action) - set(table)
    if missing:
        raise ValueError(f"actions missing from the policy matrix: {sorted(missing)}")
    return table


PERMISSIONS: Mapping[Action, frozenset[Role]] = _parse(MATRIX)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as established from a verified token and its session."""

    user_id: UUID
    role: Role
    practice_id: UUID | None
    session_id: UUID
    mfa_enabled: bool
    full_name: str = ""


def can(actor: Principal, action: Action) -> bool:
    return actor.role in PERMISSIONS[action]


def authorize(actor: Principal, action: Action) -> None:
    if not can(actor, action):
        raise Forbidden("You are not allowed to do this.", extra={"action": action.value})


def require_user_in_scope(actor: Principal, target_practice_id: UUID | None) -> None:
    """Administration of another user: a SYSTEM_ADMIN sees everyone; a PRACTICE_ADMIN
    only the staff of their own practice. Anyone else's users do not exist for them."""
    if actor.role is Role.SYSTEM_ADMIN:
        return
    if actor.role is Role.PRACTICE_ADMIN and target_practice_id == actor.practice_id:
        return
    raise NotFound("User not found.")


def user_list_scope(actor: Principal) -> UUID | None:
    """The practice a user list is restricted to (None: all, for SYSTEM_ADMIN)."""
    authorize(actor, Action.USER_LIST)
    if actor.role is Role.SYSTEM_ADMIN:
        return None
    assert actor.practice_id is not None
    return actor.practice_id


def check_role_assignment(target_current_role: Role, new_role: Role) -> None:
    """Roles given through user administration are staff roles, to staff users only."""
    if new_role not in STAFF_ROLES or target_current_role not in STAFF_ROLES:
        raise Forbidden(
            "Only staff roles can be assigned, and only to staff users.",
            extra={"action": Action.USER_UPDATE.value},
        )


def must_enrol_mfa(actor: Principal, required_roles: frozenset[Role]) -> bool:
    """True while a user whose role requires MFA has not enrolled yet."""
    return actor.role in required_roles and not actor.mfa_enabled


# --------------------------------------------------------------------------- practices


def require_practice_member(actor: Principal, practice_id: UUID, action: Action) -> None:
    """Actions on a practice's own business: its staff, or a SYSTEM_ADMIN.

    Practices are public (a directory), so a refusal here is 403, not 404.
    """
    authorize(actor, action)
    if actor.role is Role.SYSTEM_ADMIN:
        return
    if actor.role in STAFF_ROLES and actor.practice_id == practice_id:
        return
    raise Forbidden("Only this practice's staff may do this.", extra={"action": action.value})


@dataclass(frozen=True)
class PracticeFacts:
    """What the access rules and the practice-local day need to know of a practice."""

    id: UUID
    is_active: bool
    timezone: str


_AnyPractice = TypeVar("_AnyPractice", Practice, PracticeFacts)


def practice_exists_for(actor: Principal, practice: _AnyPractice | None) -> _AnyPractice:
    """A deactivated practice exists for SYSTEM_ADMIN only; for everyone else it is 404."""
    if practice is None or (not practice.is_active and actor.role is not Role.SYSTEM_ADMIN):
        raise NotFound("Practice not found.")
    return practice


def sees_practice_details(actor: Principal, practice_id: UUID) -> bool:
    """Staff of the practice and SYSTEM_ADMIN see every field; others the directory."""
    return actor.role is Role.SYSTEM_ADMIN or (
        actor.role in STAFF_ROLES and actor.practice_id == practice_id
    )


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class ClientScope:
    """Which pet owners, and so which pets, an actor can see. Exactly one field is set.

    - ``everything``: SYSTEM_ADMIN (every such read is audited);
    - ``practice_id``: staff see owners with an *approved* association with their practice;
    - ``owner_user_id``: a PET_OWNER sees the owner profile linked to their account.

    The database adapter turns this into one SQL condition used by single reads and lists
    alike, so a list can never show what a single read would refuse.
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


def require_association_decider(
    actor: Principal, association: Association, target: AssociationStatus
) -> None:
    """Who takes a step of an association the actor sees (the caller checked that: the
    practice's staff for one visible to the practice, the owner for their own).

    - A pending association that awaits the owner's consent (a practice asked for an owner
      it did not create) is approved or rejected by that owner, through their own
      ``PET_OWNER`` account; never by the practice that asked.
    - Every other step is the practice's: its ``PRACTICE_ADMIN`` or ``VET`` approves or
      rejects what an owner asked for, and deactivates an approved association. An owner
      does not decide their own request.
    """
    if association.awaits_owner and target is not AssociationStatus.INACTIVE:
        authorize(actor, Action.ASSOCIATION_CONSENT)
        return
    require_practice_member(actor, association.practice_id, Action.ASSOCIATION_DECIDE)


def audit_scope(actor: Principal) -> UUID | None:
    """The practice whose audit events the actor may search: None means every practice
    (SYSTEM_ADMIN); a PRACTICE_ADMIN sees their own practice's only."""
    authorize(actor, Action.AUDIT_SEARCH)
    if actor.role is Role.SYSTEM_ADMIN:
        return None
    if actor.practice_id is None:  # a PRACTICE_ADMIN always has one (CHECK constraint)
        raise Forbidden("You are not allowed to do this.")
    return actor.practice_id
