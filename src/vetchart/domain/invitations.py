"""Staff invitations: their states, and who may accept one with an account they already
have (``POST /invitations/accept-existing``).

An invitation is ``pending`` until it is accepted, revoked or past its expiry; only a
pending one can be accepted (else 410). The state is derived from the row's times, never
stored twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from vetchart.domain.errors import Conflict
from vetchart.domain.users import STAFF_ROLES, Role


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


def invitation_status(
    *,
    accepted_at: datetime | None,
    revoked_at: datetime | None,
    expires_at: datetime,
    now: datetime,
) -> InvitationStatus:
    """Accepted and revoked are final; otherwise pending until ``expires_at``."""
    if accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if revoked_at is not None:
        return InvitationStatus.REVOKED
    if now >= expires_at:
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


def check_existing_account_may_join(
    *,
    role: Role,
    practice_id: UUID | None,
    has_owner_profile: bool,
    invitation_practice_id: UUID,
) -> None:
    """The rules for an existing account accepting a staff invitation (a user has one
    role and, for staff, exactly one practice):

    - staff of the inviting practice already: 409 ``already-staff`` (a role change is
      ``PATCH /users/{id}`` by its admin);
    - staff of another practice: allowed, the account *moves* to the inviting practice
      with the invited role (the person accepted with their own signed-in session);
    - a PET_OWNER account without an owner profile: allowed, it becomes staff;
    - a PET_OWNER account with an owner profile: 409 ``owner-profile-linked`` (the profile
      would become unreachable: staff see owners through their practice only); invite
      another address for the staff account;
    - SYSTEM_ADMIN: 409 ``account-not-eligible`` (platform operators are not staff).
    """
    if role is Role.SYSTEM_ADMIN:
        raise Conflict(
            "A platform administrator account cannot join a practice.",
            code="account-not-eligible",
        )
    if role in STAFF_ROLES and practice_id == invitation_practice_id:
        raise Conflict("You are already on this practice's staff.", code="already-staff")
    if role is Role.PET_OWNER and has_owner_profile:
        raise Conflict(
            "This account holds a pet owner profile; accept the invitation with an account "
            "of another email address.",
            code="owner-profile-linked",
        )
