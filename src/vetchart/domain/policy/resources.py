"""What ``policy.require`` is asked about: the object of an action, carrying exactly the
facts its rules need (no repository, no I/O). ``None`` is "no object": the matrix alone.

| resource              | built from                  | refusal                                 |
| --------------------- | --------------------------- | --------------------------------------- |
| None                  | -                           | 403 (matrix)                            |
| PracticeLookup        | the practice found, or None | 404 missing/deactivated, then 403       |
| PracticeBusiness      | a practice id               | 403 unless its staff or SYSTEM_ADMIN    |
| UserAccount           | the target user's practice  | 404 outside the admin's scope           |
| RoleChange            | current and new role        | 403 (staff roles, to staff, only)       |
| RecordRef             | a medical record            | 403 (may_amend_record / may_sign)       |
| AssociationRequest    | the practice asked          | 403 (staff: own practice only)          |
| AssociationStep       | the association, the target | 404 not visible, then 403 (whose step)  |
| InvitationRef         | an invitation's practice    | 404 unless its staff or SYSTEM_ADMIN    |
| OwnerCustody          | an owner in scope (404 before) | 403 (may_deactivate / may_erase_owner) |
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from vetchart.domain.owners import Association, AssociationStatus
from vetchart.domain.policy.rules import AuthoredRecord
from vetchart.domain.policy.scope import PracticeFacts
from vetchart.domain.practices import Practice
from vetchart.domain.users import Role


@dataclass(frozen=True)
class PracticeLookup:
    """A practice the caller named by id, as the service found it (``found`` None: no
    such practice). It must exist for the actor (404: missing, or deactivated for anyone
    but SYSTEM_ADMIN); then, unless ``members_only`` is False (the public directory), the
    action is the practice's own business (:class:`PracticeBusiness`)."""

    found: Practice | PracticeFacts | None
    members_only: bool = True


@dataclass(frozen=True)
class PracticeBusiness:
    """Something of one practice's own business (its staff list, invitations,
    appointments, follow-ups, associations, a visit): its staff and SYSTEM_ADMIN only.
    Practices are public, so a refusal is 403, not 404."""

    practice_id: UUID


@dataclass(frozen=True)
class UserAccount:
    """Another user, administered: ``practice_id`` is the target user's practice. Out of
    the administrator's scope the user does not exist (404)."""

    practice_id: UUID | None


@dataclass(frozen=True)
class RoleChange:
    """A user's role changed through administration (``user.update``)."""

    current: Role
    new: Role


@dataclass(frozen=True)
class RecordRef:
    """A medical record, by what the record rules read of it: its author and practice.
    Asked with ``medical_record.amend`` (also for marking entered in error),
    ``attachment.create`` (attaching is changing the record) or ``medical_record.sign``."""

    author_id: UUID
    practice_id: UUID

    @classmethod
    def of(cls, record: AuthoredRecord) -> RecordRef:
        return cls(record.author_id, record.practice_id)


@dataclass(frozen=True)
class AssociationRequest:
    """A new association asked for by the actor, with ``practice_id``."""

    practice_id: UUID


@dataclass(frozen=True)
class AssociationStep:
    """A decision on an association (``association.decide``): taking it to ``target``.
    ``owner_in_scope`` answers, for a pet owner only, whether the association's owner is
    in their client scope (``scope.needs_owner_lookup``); False for anyone else."""

    association: Association
    target: AssociationStatus
    owner_in_scope: bool = False


@dataclass(frozen=True)
class InvitationRef:
    """A staff invitation, by its practice. Invitations are not public (unlike
    practices): outside its practice's staff (and SYSTEM_ADMIN) one does not exist."""

    practice_id: UUID


@dataclass(frozen=True)
class OwnerCustody:
    """An owner in the actor's client scope (the service looked it up: out of scope is
    404 before this), by what the lifecycle rules read of it: the practice that created
    it, whether a PET_OWNER account is linked to it, and whether a practice other than
    the actor's has it as an open (pending or approved) client. Asked with
    ``pet_owner.deactivate`` or ``pet_owner.erase``."""

    created_by_practice_id: UUID | None
    has_account: bool
    other_practices: bool


@dataclass(frozen=True)
class PracticeConfiguration:
    """A setting object of one practice (a webhook endpoint): after the matrix, it exists
    only for the practice's members and SYSTEM_ADMIN (404 for anyone else)."""

    practice_id: UUID
    kind: str  # what a refusal names: "Webhook"


Resource = (
    PracticeLookup
    | PracticeConfiguration
    | PracticeBusiness
    | UserAccount
    | RoleChange
    | RecordRef
    | AssociationRequest
    | AssociationStep
    | InvitationRef
    | OwnerCustody
    | None
)
