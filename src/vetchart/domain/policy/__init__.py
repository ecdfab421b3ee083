"""The access policy: who may do what to which object. Services ask one question,
``require(actor, action, resource)``; routes never decide access.

- ``matrix.py``: the role x action table (checked at import time);
- ``scope.py``: whose data an actor sees (practices, clients, users, the audit log);
- ``rules.py``: the rules beyond the table (who may amend or sign a record, associate,
  decide an association, be given a role, be assigned an appointment);
- ``resources.py``: the objects ``require`` is asked about; ``enforce.py``: ``require``.

Out-of-scope objects are reported as not found (404), visible ones with a forbidden
action as forbidden (403).
"""

from vetchart.domain.policy.enforce import require
from vetchart.domain.policy.matrix import COLUMNS, HEADER, MATRIX, PERMISSIONS, Action, allows
from vetchart.domain.policy.principal import ApiKeyGrant, Principal
from vetchart.domain.policy.resources import (
    AssociationRequest,
    AssociationStep,
    InvitationRef,
    OwnerCustody,
    PracticeBusiness,
    PracticeConfiguration,
    PracticeLookup,
    RecordRef,
    Resource,
    RoleChange,
    UserAccount,
)
from vetchart.domain.policy.rules import may_be_assigned, may_invite_as, must_enrol_mfa
from vetchart.domain.policy.scope import (
    ClientScope,
    PracticeFacts,
    audit_scope,
    client_scope,
    is_practice_member,
    needs_owner_lookup,
    owner_account,
    sees_practice_details,
    staff_practice,
    user_list_scope,
)

__all__ = [
    "COLUMNS",
    "HEADER",
    "MATRIX",
    "PERMISSIONS",
    "Action",
    "ApiKeyGrant",
    "AssociationRequest",
    "AssociationStep",
    "ClientScope",
    "InvitationRef",
    "OwnerCustody",
    "PracticeBusiness",
    "PracticeConfiguration",
    "PracticeFacts",
    "PracticeLookup",
    "Principal",
    "RecordRef",
    "Resource",
    "RoleChange",
    "UserAccount",
    "allows",
    "audit_scope",
    "client_scope",
    "is_practice_member",
    "may_be_assigned",
    "may_invite_as",
    "must_enrol_mfa",
    "needs_owner_lookup",
    "owner_account",
    "require",
    "sees_practice_details",
    "staff_practice",
    "user_list_scope",
]
