"""The permission matrix: which role may attempt which action, as a table (role x action).

A leaf of the policy package: it knows roles and actions, nothing of practices, owners or
records. The table is parsed and checked when the module is imported (header, marks,
duplicates, every action present), so a malformed table never reaches a request. Whether
an allowed action may be done on a *given* object is decided by ``scope`` and ``rules``;
services ask all three through ``policy.require``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from vetchart.domain.users import Role


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
    INVITATION_MANAGE = "invitation.manage"
    INVITATION_ACCEPT_EXISTING = "invitation.accept_existing"
    PET_OWNER_DEACTIVATE = "pet_owner.deactivate"
    PET_OWNER_EXPORT = "pet_owner.export"
    PET_OWNER_ERASE = "pet_owner.erase"
    MESSAGE_CONSENT_READ = "message_consent.read"
    MESSAGE_CONSENT_UPDATE = "message_consent.update"
    MESSAGE_LIST = "message.list"
    REMINDER_RULE_READ = "reminder_rule.read"
    REMINDER_RULE_MANAGE = "reminder_rule.manage"
    SCHEDULE_READ = "schedule.read"
    SCHEDULE_MANAGE = "schedule.manage"
    SLOTS_READ = "slots.read"
    APPOINTMENT_REQUEST = "appointment.request"
    APPOINTMENT_CANCEL_OWN = "appointment.cancel_own"
    WEBHOOK_MANAGE = "webhook.manage"
    API_KEY_MANAGE = "api_key.manage"


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
invitation.manage         -      -     -      x        x
invitation.accept_existing x     x     x      x        -
pet_owner.deactivate      -      -     -      x        x
pet_owner.export          x      -     -      x        x
pet_owner.erase           -      -     -      x        x
message_consent.read      x      x     x      x        x
message_consent.update    x      x     x      x        -
message.list              x      x     x      x        x
reminder_rule.read        -      x     x      x        x
reminder_rule.manage      -      -     -      x        -
schedule.read             -      x     x      x        x
schedule.manage           -      -     -      x        x
slots.read                x      x     x      x        x
appointment.request       x      -     -      -        -
appointment.cancel_own    x      -     -      -        -
webhook.manage            -      -     -      x        x
api_key.manage            -      -     -      x        -
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


def allows(role: Role, action: Action) -> bool:
    """True when the matrix lets ``role`` attempt ``action``."""
    return role in PERMISSIONS[action]
