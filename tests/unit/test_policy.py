"""Unit tests of the access policy (``vetchart.domain.policy``): the permission matrix
(every role x every action, through ``policy.require``), the scope rules, the rules
beyond the table, ``require`` on every kind of resource, and the matrix parser."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from vetchart.domain import policy
from vetchart.domain.errors import Forbidden, NotFound
from vetchart.domain.owners import Association, AssociationStatus, ConsentParty, RequestType
from vetchart.domain.policy import (
    Action,
    AssociationRequest,
    AssociationStep,
    ClientScope,
    PracticeBusiness,
    PracticeConfiguration,
    PracticeFacts,
    PracticeLookup,
    Principal,
    RecordRef,
    RoleChange,
    UserAccount,
    allows,
    require,
    rules,
    scope,
)
from vetchart.domain.policy import matrix as policy_matrix
from vetchart.domain.users import Role

OWNER = Role.PET_OWNER
STAFF = Role.VET_STAFF
VET = Role.VET
P_ADMIN = Role.PRACTICE_ADMIN
S_ADMIN = Role.SYSTEM_ADMIN

# The expected matrix, written out cell by cell on purpose: changing who may do what must
# change this table too. True = allowed.
#                                 OWNER  STAFF  VET    P_ADMIN S_ADMIN
_ROWS: dict[Action, tuple[bool, bool, bool, bool, bool]] = {
    Action.OWN_PROFILE_READ: (True, True, True, True, True),
    Action.OWN_PROFILE_UPDATE: (True, True, True, True, True),
    Action.OWN_SESSIONS_MANAGE: (True, True, True, True, True),
    Action.MFA_MANAGE: (True, True, True, True, True),
    Action.USER_LIST: (False, False, False, True, True),
    Action.USER_READ: (False, False, False, True, True),
    Action.USER_UPDATE: (False, False, False, True, True),
    Action.USER_UNLOCK: (False, False, False, True, True),
    Action.USER_CREATE_ADMIN: (False, False, False, False, True),
    Action.PRACTICE_CREATE: (False, False, False, False, True),
    Action.PRACTICE_READ: (True, True, True, True, True),
    Action.PRACTICE_UPDATE: (False, False, False, True, True),
    Action.PRACTICE_DEACTIVATE: (False, False, False, False, True),
    Action.PRACTICE_STAFF_LIST: (False, True, True, True, True),
    Action.INVITATION_CREATE: (False, False, False, True, True),
    Action.PET_OWNER_CREATE: (True, True, True, True, False),
    Action.PET_OWNER_READ: (True, True, True, True, True),
    Action.PET_OWNER_UPDATE: (True, True, True, True, True),
    Action.ASSOCIATION_CREATE: (True, True, True, True, False),
    Action.ASSOCIATION_LIST: (False, True, True, True, True),
    Action.ASSOCIATION_DECIDE: (False, False, True, True, False),
    Action.ASSOCIATION_CONSENT: (True, False, False, False, False),
    Action.PET_CREATE: (True, True, True, True, False),
    Action.PET_READ: (True, True, True, True, True),
    Action.PET_UPDATE: (True, True, True, True, False),
    Action.PET_DEACTIVATE: (True, True, True, True, False),
    Action.MEDICAL_RECORD_CREATE: (False, True, True, True, False),
    Action.MEDICAL_RECORD_READ: (True, True, True, True, True),
    Action.MEDICAL_RECORD_AMEND: (False, True, True, True, False),
    Action.MEDICAL_RECORD_SIGN: (False, False, True, False, False),
    Action.FOLLOW_UPS_LIST: (False, True, True, True, True),
    Action.AUDIT_SEARCH: (False, False, False, True, True),
    Action.ACCESS_LOG_READ: (True, True, True, True, True),
    Action.APPOINTMENT_CREATE: (False, True, True, True, False),
    Action.APPOINTMENT_READ: (True, True, True, True, True),
    Action.APPOINTMENT_UPDATE: (False, True, True, True, False),
    Action.VISIT_CREATE: (False, True, True, True, False),
    Action.VISIT_READ: (True, True, True, True, True),
    Action.VISIT_UPDATE: (False, True, True, True, False),
    Action.VISIT_SUMMARY_ACCEPT: (False, False, True, False, False),
    Action.ATTACHMENT_CREATE: (False, True, True, True, False),
    Action.ATTACHMENT_READ: (True, True, True, True, True),
    Action.DASHBOARD_READ: (False, True, True, True, False),
    Action.KB_DOCUMENT_MANAGE: (False, False, False, False, True),
    Action.KB_READ: (True, True, True, True, True),
    Action.KB_QUERY: (True, True, True, True, True),
    Action.INVITATION_MANAGE: (False, False, False, True, True),
    Action.INVITATION_ACCEPT_EXISTING: (True, True, True, True, False),
    Action.PET_OWNER_DEACTIVATE: (False, False, False, True, True),
    Action.PET_OWNER_EXPORT: (True, False, False, True, True),
    Action.PET_OWNER_ERASE: (False, False, False, True, True),
    Action.MESSAGE_CONSENT_READ: (True, True, True, True, True),
    Action.MESSAGE_CONSENT_UPDATE: (True, True, True, True, False),
    Action.MESSAGE_LIST: (True, True, True, True, True),
    Action.REMINDER_RULE_READ: (False, True, True, True, True),
    Action.REMINDER_RULE_MANAGE: (False, False, False, True, False),
    Action.SCHEDULE_READ: (False, True, True, True, True),
    Action.SCHEDULE_MANAGE: (False, False, False, True, True),
    Action.SLOTS_READ: (True, True, True, True, True),
    Action.APPOINTMENT_REQUEST: (True, False, False, False, False),
    Action.APPOINTMENT_CANCEL_OWN: (True, False, False, False, False),
    Action.WEBHOOK_MANAGE: (False, False, False, True, True),
    Action.API_KEY_MANAGE: (False, False, False, True, False),
}
_ROLE_ORDER = (OWNER, STAFF, VET, P_ADMIN, S_ADMIN)
EXPECTED: dict[tuple[Role, Action], bool] = {
    (role, action): allowed
    for action, marks in _ROWS.items()
    for role, allowed in zip(_ROLE_ORDER, marks, strict=True)
}

PRACTICE = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER_PRACTICE = uuid.UUID("22222222-2222-4222-8222-222222222222")


def principal(role: Role, *, practice_id: uuid.UUID | None = None, mfa: bool = False) -> Principal:
    if practice_id is None and role in (STAFF, VET, P_ADMIN):
        practice_id = PRACTICE
    return Principal(
        user_id=uuid.uuid4(),
        role=role,
        practice_id=practice_id,
        session_id=uuid.uuid4(),
        mfa_enabled=mfa,
    )


ALL_PAIRS = list(itertools.product(Role, Action))


def test_expected_table_covers_every_role_and_every_action() -> None:
    # A new role or action must be added to the expected table above, deliberately.
    assert set(EXPECTED) == set(ALL_PAIRS)
    assert set(_ROLE_ORDER) == set(Role)


@pytest.mark.parametrize(("role", "action"), ALL_PAIRS, ids=lambda v: str(v))
def test_allows_matches_the_expected_matrix(role: Role, action: Action) -> None:
    assert allows(role, action) is EXPECTED[(role, action)]


@pytest.mark.parametrize(("role", "action"), ALL_PAIRS, ids=lambda v: str(v))
def test_require_raises_forbidden_exactly_when_not_allowed(role: Role, action: Action) -> None:
    actor = principal(role)
    if EXPECTED[(role, action)]:
        require(actor, action)  # no exception
    else:
        with pytest.raises(Forbidden) as caught:
            require(actor, action)
        assert caught.value.extra["action"] == action.value
        assert caught.value.code == "forbidden"
        assert caught.value.detail == "You are not allowed to do this."


def test_permissions_do_not_depend_on_practice_or_mfa() -> None:
    for role, action in ALL_PAIRS:
        for practice_id, mfa in [(OTHER_PRACTICE, True), (PRACTICE, False)]:
            actor = principal(role, practice_id=practice_id, mfa=mfa)
            allowed = EXPECTED[(role, action)]
            if allowed:
                require(actor, action)
            else:
                with pytest.raises(Forbidden):
                    require(actor, action)


def _outcome(actor: Principal, action: Action, resource: policy.Resource) -> str:
    """ "ok", "403" or "404": what ``require`` answers."""
    try:
        require(actor, action, resource)
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    return "ok"


def _staff_of(role: Role, practice_id: uuid.UUID | None) -> bool:
    return role in (STAFF, VET, P_ADMIN) and practice_id == PRACTICE


# ---------------------------------------------------------------- practices

ACTIVE = PracticeFacts(PRACTICE, True, "Europe/London")
INACTIVE = PracticeFacts(PRACTICE, False, "Europe/London")
PRACTICE_ACTIONS = [
    Action.PRACTICE_UPDATE,
    Action.PRACTICE_STAFF_LIST,
    Action.INVITATION_CREATE,
    Action.ASSOCIATION_LIST,
    Action.FOLLOW_UPS_LIST,
    Action.APPOINTMENT_CREATE,
    Action.APPOINTMENT_READ,
    Action.APPOINTMENT_UPDATE,
    Action.VISIT_UPDATE,
    Action.VISIT_SUMMARY_ACCEPT,
]


@pytest.mark.parametrize("action", PRACTICE_ACTIONS)
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("practice_id", [PRACTICE, OTHER_PRACTICE])
def test_practice_business_is_its_staffs_and_system_admins(
    action: Action, role: Role, practice_id: uuid.UUID
) -> None:
    actor = principal(role, practice_id=practice_id if role in (STAFF, VET, P_ADMIN) else None)
    member = role is S_ADMIN or _staff_of(role, actor.practice_id)
    expected = "ok" if EXPECTED[(role, action)] and member else "403"
    assert _outcome(actor, action, PracticeBusiness(PRACTICE)) == expected


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("practice_id", [PRACTICE, OTHER_PRACTICE])
def test_practice_configuration_is_the_matrix_first_then_404_outside(
    role: Role, practice_id: uuid.UUID
) -> None:
    """A webhook: the matrix refuses with 403 whatever the object; an allowed caller
    outside the object's practice gets 404 (it does not exist for them)."""
    actor = principal(role, practice_id=practice_id if role in (STAFF, VET, P_ADMIN) else None)
    resource = PracticeConfiguration(PRACTICE, "Webhook")
    if not EXPECTED[(role, Action.WEBHOOK_MANAGE)]:
        expected = "403"
    elif role is S_ADMIN or _staff_of(role, actor.practice_id):
        expected = "ok"
    else:
        expected = "404"
    assert _outcome(actor, Action.WEBHOOK_MANAGE, resource) == expected


def test_practice_business_refusals_name_the_action() -> None:
    actor = principal(VET, practice_id=OTHER_PRACTICE)
    with pytest.raises(Forbidden) as caught:
        require(actor, Action.APPOINTMENT_UPDATE, PracticeBusiness(PRACTICE))
    assert caught.value.detail == "Only this practice's staff may do this."
    assert caught.value.extra == {"action": "appointment.update"}


@pytest.mark.parametrize("role", list(Role))
def test_a_missing_practice_is_not_found_for_everyone_before_any_permission(role: Role) -> None:
    # Even for a role the matrix refuses: existence is answered first (404, not 403).
    with pytest.raises(NotFound, match="Practice not found"):
        require(principal(role), Action.APPOINTMENT_CREATE, PracticeLookup(None))


@pytest.mark.parametrize("role", list(Role))
def test_a_deactivated_practice_exists_for_system_admin_only(role: Role) -> None:
    outcome = _outcome(principal(role), Action.PRACTICE_READ, PracticeLookup(INACTIVE, False))
    assert outcome == ("ok" if role is S_ADMIN else "404")


@pytest.mark.parametrize("role", list(Role))
def test_the_practice_directory_is_public(role: Role) -> None:
    lookup = PracticeLookup(ACTIVE, members_only=False)
    assert (
        _outcome(
            principal(role, practice_id=OTHER_PRACTICE if role in (STAFF, VET, P_ADMIN) else None),
            Action.PRACTICE_READ,
            lookup,
        )
        == "ok"
    )


@pytest.mark.parametrize("action", PRACTICE_ACTIONS)
@pytest.mark.parametrize("role", list(Role))
def test_a_found_practice_then_follows_the_business_rule(action: Action, role: Role) -> None:
    actor = principal(role)
    member = role is S_ADMIN or _staff_of(role, actor.practice_id)
    expected = "ok" if EXPECTED[(role, action)] and member else "403"
    assert _outcome(actor, action, PracticeLookup(ACTIVE)) == expected
    other = principal(role, practice_id=OTHER_PRACTICE if role in (STAFF, VET, P_ADMIN) else None)
    other_expected = "ok" if EXPECTED[(role, action)] and role is S_ADMIN else "403"
    assert _outcome(other, action, PracticeLookup(ACTIVE)) == other_expected


@pytest.mark.parametrize("role", list(Role))
def test_sees_practice_details(role: Role) -> None:
    assert scope.sees_practice_details(principal(role), PRACTICE) is (
        role is S_ADMIN or role in (STAFF, VET, P_ADMIN)
    )
    other = principal(role, practice_id=OTHER_PRACTICE if role in (STAFF, VET, P_ADMIN) else None)
    assert scope.sees_practice_details(other, PRACTICE) is (role is S_ADMIN)


# ---------------------------------------------------------------- clients


def test_client_scope_per_role() -> None:
    assert scope.client_scope(principal(S_ADMIN)) == ClientScope(everything=True)
    for role in (STAFF, VET, P_ADMIN):
        assert scope.client_scope(principal(role)) == ClientScope(practice_id=PRACTICE)
    owner = principal(OWNER)
    assert scope.client_scope(owner) == ClientScope(owner_user_id=owner.user_id)


@pytest.mark.parametrize("role", list(Role))
def test_staff_practice_and_owner_account(role: Role) -> None:
    actor = principal(role)
    staff = role in (STAFF, VET, P_ADMIN)
    assert scope.staff_practice(actor) == (PRACTICE if staff else None)
    assert scope.owner_account(actor) == (actor.user_id if role is OWNER else None)
    assert scope.needs_owner_lookup(actor) is (role is OWNER)


# ---------------------------------------------------------------- users


@pytest.mark.parametrize("target", [PRACTICE, OTHER_PRACTICE, None])
def test_system_admin_sees_every_user(target: uuid.UUID | None) -> None:
    require(principal(S_ADMIN), Action.USER_READ, UserAccount(target))


def test_practice_admin_sees_users_of_own_practice() -> None:
    require(principal(P_ADMIN, practice_id=PRACTICE), Action.USER_READ, UserAccount(PRACTICE))


@pytest.mark.parametrize("target", [OTHER_PRACTICE, None])
@pytest.mark.parametrize("action", [Action.USER_READ, Action.USER_UPDATE, Action.USER_UNLOCK])
def test_practice_admin_does_not_see_other_users(target: uuid.UUID | None, action: Action) -> None:
    with pytest.raises(NotFound, match="User not found"):
        require(principal(P_ADMIN, practice_id=PRACTICE), action, UserAccount(target))


@pytest.mark.parametrize("role", [OWNER, STAFF, VET])
@pytest.mark.parametrize("target", [PRACTICE, OTHER_PRACTICE, None])
def test_other_roles_may_not_administer_users(role: Role, target: uuid.UUID | None) -> None:
    # The action first: a role that may not administer users is refused (403) whatever
    # the target; only for the roles that may does scope decide 404.
    with pytest.raises(Forbidden):
        require(principal(role), Action.USER_READ, UserAccount(target))


@pytest.mark.parametrize("role", [OWNER, STAFF, VET])
@pytest.mark.parametrize("target", [PRACTICE, OTHER_PRACTICE, None])
def test_sees_user_is_false_for_other_roles(role: Role, target: uuid.UUID | None) -> None:
    # Even users of their own practice: out-of-scope objects do not exist (404, not 403).
    assert scope.sees_user(principal(role), target) is False


def test_user_list_scope_is_everyone_for_system_admin() -> None:
    assert scope.user_list_scope(principal(S_ADMIN)) is None


def test_user_list_scope_is_own_practice_for_practice_admin() -> None:
    assert scope.user_list_scope(principal(P_ADMIN, practice_id=OTHER_PRACTICE)) == OTHER_PRACTICE


@pytest.mark.parametrize("role", [OWNER, STAFF, VET])
def test_user_lists_are_forbidden_for_other_roles(role: Role) -> None:
    with pytest.raises(Forbidden):
        require(principal(role), Action.USER_LIST)


def test_audit_scope() -> None:
    assert scope.audit_scope(principal(S_ADMIN)) is None
    assert scope.audit_scope(principal(P_ADMIN, practice_id=OTHER_PRACTICE)) == OTHER_PRACTICE


# Role assignment: staff roles only, to staff users only (written out, every pair).
_ASSIGNABLE = {
    (STAFF, STAFF),
    (STAFF, VET),
    (STAFF, P_ADMIN),
    (VET, STAFF),
    (VET, VET),
    (VET, P_ADMIN),
    (P_ADMIN, STAFF),
    (P_ADMIN, VET),
    (P_ADMIN, P_ADMIN),
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(Role, Role)), ids=str)
def test_role_change(current: Role, new: Role) -> None:
    admin = principal(P_ADMIN)
    assert rules.may_assign_role(current, new) is ((current, new) in _ASSIGNABLE)
    if (current, new) in _ASSIGNABLE:
        require(admin, Action.USER_UPDATE, RoleChange(current, new))
    else:
        with pytest.raises(Forbidden) as caught:
            require(admin, Action.USER_UPDATE, RoleChange(current, new))
        assert caught.value.extra == {"action": "user.update"}


def test_nobody_can_be_made_system_admin_or_pet_owner_through_administration() -> None:
    for current in Role:
        for new in (S_ADMIN, OWNER):
            with pytest.raises(Forbidden):
                require(principal(S_ADMIN), Action.USER_UPDATE, RoleChange(current, new))


@pytest.mark.parametrize("role", list(Role))
def test_invitations_are_for_staff_roles(role: Role) -> None:
    assert rules.may_invite_as(role) is (role in (STAFF, VET, P_ADMIN))


@pytest.mark.parametrize("role", list(Role))
def test_must_enrol_mfa(role: Role) -> None:
    required = frozenset({S_ADMIN, P_ADMIN})
    expected = role in (S_ADMIN, P_ADMIN)
    assert rules.must_enrol_mfa(principal(role, mfa=False), required) is expected
    # Once enrolled, nobody is held back; with no roles required, nobody either.
    assert rules.must_enrol_mfa(principal(role, mfa=True), required) is False
    assert rules.must_enrol_mfa(principal(role, mfa=False), frozenset()) is False


# ---------------------------------------------------------------- medical records

AUTHOR = uuid.UUID("33333333-3333-4333-8333-333333333333")
RECORD = RecordRef(author_id=AUTHOR, practice_id=PRACTICE)


def _as(role: Role, practice_id: uuid.UUID | None, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(
        user_id=user_id or uuid.uuid4(),
        role=role,
        practice_id=practice_id,
        session_id=uuid.uuid4(),
        mfa_enabled=False,
    )


# Who may change a record (amend, mark entered in error, attach): the author, or a VET /
# PRACTICE_ADMIN of the authoring practice. "matrix": the role may not change records.
_CHANGERS = [
    (AUTHOR, STAFF, PRACTICE, "ok"),  # the author
    (AUTHOR, VET, OTHER_PRACTICE, "ok"),  # the author, moved practice since
    (None, STAFF, PRACTICE, "rule"),  # another technician
    (None, VET, PRACTICE, "ok"),
    (None, P_ADMIN, PRACTICE, "ok"),
    (None, VET, OTHER_PRACTICE, "rule"),
    (None, P_ADMIN, OTHER_PRACTICE, "rule"),
    (None, OWNER, None, "matrix"),
    (None, S_ADMIN, None, "matrix"),
]


@pytest.mark.parametrize(("user_id", "role", "practice_id", "expected"), _CHANGERS)
@pytest.mark.parametrize("action", [Action.MEDICAL_RECORD_AMEND, Action.ATTACHMENT_CREATE])
def test_who_may_change_a_record(
    user_id: uuid.UUID | None,
    role: Role,
    practice_id: uuid.UUID | None,
    expected: str,
    action: Action,
) -> None:
    actor = _as(role, practice_id, user_id)
    assert rules.may_amend_record(actor, RECORD) is (expected == "ok" or user_id == AUTHOR)
    if expected == "ok":
        require(actor, action, RECORD)
        return
    with pytest.raises(Forbidden) as caught:
        require(actor, action, RECORD)
    if expected == "rule":
        assert caught.value.detail.startswith("Only the author, or a vet or practice admin")
        assert caught.value.extra == {"action": "medical_record.amend"}
    else:
        assert caught.value.extra == {"action": action.value}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("practice_id", [PRACTICE, OTHER_PRACTICE])
def test_who_may_sign_a_record(role: Role, practice_id: uuid.UUID) -> None:
    actor = _as(role, practice_id if role in (STAFF, VET, P_ADMIN) else None)
    assert rules.may_sign(actor, RECORD) is (actor.practice_id == PRACTICE)
    if role is VET and practice_id == PRACTICE:
        require(actor, Action.MEDICAL_RECORD_SIGN, RECORD)
        return
    with pytest.raises(Forbidden) as caught:
        require(actor, Action.MEDICAL_RECORD_SIGN, RECORD)
    if role is VET:
        assert caught.value.detail == "Only a vet of the authoring practice may sign this record."
    else:
        assert caught.value.detail == "You are not allowed to do this."
    assert caught.value.extra == {"action": "medical_record.sign"}


def test_a_record_is_not_asked_about_with_another_action() -> None:
    with pytest.raises(TypeError):
        require(principal(VET), Action.MEDICAL_RECORD_READ, RECORD)


# ---------------------------------------------------------------- associations

NOW = datetime(2024, 1, 1, tzinfo=UTC)
OWNER_ID = uuid.UUID("44444444-4444-4444-8444-444444444444")


def _association(
    status: AssociationStatus, awaiting: ConsentParty | None, practice_id: uuid.UUID = PRACTICE
) -> Association:
    return Association(
        id=uuid.uuid4(),
        pet_owner_id=OWNER_ID,
        practice_id=practice_id,
        request_type=RequestType.NEW_CLIENT,
        status=status,
        requested_by=uuid.uuid4(),
        created_at=NOW,
        updated_at=NOW,
        awaiting=awaiting,
    )


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("practice_id", [PRACTICE, OTHER_PRACTICE])
def test_who_may_ask_for_an_association(role: Role, practice_id: uuid.UUID) -> None:
    actor = principal(role)
    staff = role in (STAFF, VET, P_ADMIN)
    assert rules.may_associate(actor, practice_id) is (not staff or practice_id == PRACTICE)
    if role is S_ADMIN:
        expected = "403"  # the matrix
    elif staff and practice_id != PRACTICE:
        expected = "403"  # staff: their own practice only
    else:
        expected = "ok"  # an owner asks any practice (for their own profile: scope's say)
    assert _outcome(actor, Action.ASSOCIATION_CREATE, AssociationRequest(practice_id)) == expected


PENDING_FOR_OWNER = _association(AssociationStatus.PENDING, ConsentParty.OWNER)
PENDING_FOR_PRACTICE = _association(AssociationStatus.PENDING, ConsentParty.PRACTICE)
APPROVED = _association(AssociationStatus.APPROVED, None)
REFUSED_BY_OWNER = _association(AssociationStatus.REJECTED, ConsentParty.OWNER)


def test_association_step_action() -> None:
    consent, decide = Action.ASSOCIATION_CONSENT, Action.ASSOCIATION_DECIDE
    step = rules.association_step_action
    assert step(PENDING_FOR_OWNER, AssociationStatus.APPROVED) is consent
    assert step(PENDING_FOR_OWNER, AssociationStatus.REJECTED) is consent
    assert step(PENDING_FOR_OWNER, AssociationStatus.INACTIVE) is decide
    assert step(PENDING_FOR_PRACTICE, AssociationStatus.APPROVED) is decide
    assert step(APPROVED, AssociationStatus.INACTIVE) is decide


@pytest.mark.parametrize(
    ("association", "target", "role", "owner_in_scope", "expected"),
    [
        # A practice's staff decide what an owner asked for (VET, PRACTICE_ADMIN only).
        (PENDING_FOR_PRACTICE, AssociationStatus.APPROVED, VET, False, "ok"),
        (PENDING_FOR_PRACTICE, AssociationStatus.REJECTED, P_ADMIN, False, "ok"),
        (PENDING_FOR_PRACTICE, AssociationStatus.APPROVED, STAFF, False, "403"),
        (APPROVED, AssociationStatus.INACTIVE, VET, False, "ok"),
        # ... never see what awaits the owner's consent, or what the owner refused.
        (PENDING_FOR_OWNER, AssociationStatus.APPROVED, VET, False, "404"),
        (REFUSED_BY_OWNER, AssociationStatus.APPROVED, P_ADMIN, False, "404"),
        # The owner consents to a practice's request, and nothing else.
        (PENDING_FOR_OWNER, AssociationStatus.APPROVED, OWNER, True, "ok"),
        (PENDING_FOR_OWNER, AssociationStatus.REJECTED, OWNER, True, "ok"),
        (PENDING_FOR_PRACTICE, AssociationStatus.APPROVED, OWNER, True, "403"),
        (APPROVED, AssociationStatus.INACTIVE, OWNER, True, "403"),
        # Another owner's associations do not exist for an owner.
        (PENDING_FOR_OWNER, AssociationStatus.APPROVED, OWNER, False, "404"),
        # SYSTEM_ADMIN sees every association but takes no step.
        (PENDING_FOR_OWNER, AssociationStatus.APPROVED, S_ADMIN, False, "403"),
        (PENDING_FOR_PRACTICE, AssociationStatus.APPROVED, S_ADMIN, False, "403"),
    ],
)
def test_association_steps(
    association: Association,
    target: AssociationStatus,
    role: Role,
    owner_in_scope: bool,
    expected: str,
) -> None:
    step = AssociationStep(association, target, owner_in_scope=owner_in_scope)
    assert _outcome(principal(role), Action.ASSOCIATION_DECIDE, step) == expected


@pytest.mark.parametrize("role", [STAFF, VET, P_ADMIN])
def test_other_practices_associations_do_not_exist_for_staff(role: Role) -> None:
    actor = principal(role, practice_id=OTHER_PRACTICE)
    assert scope.sees_association(actor, APPROVED, owner_in_scope=False) is False
    step = AssociationStep(APPROVED, AssociationStatus.INACTIVE)
    assert _outcome(actor, Action.ASSOCIATION_DECIDE, step) == "404"


def test_an_association_step_is_asked_as_association_decide() -> None:
    with pytest.raises(TypeError):
        require(
            principal(VET),
            Action.ASSOCIATION_CONSENT,
            AssociationStep(APPROVED, AssociationStatus.INACTIVE),
        )


# ---------------------------------------------------------------- appointments


@pytest.mark.parametrize("role", list(Role))
def test_only_an_active_vet_of_the_practice_may_be_assigned(role: Role) -> None:
    assert rules.may_be_assigned(_Assignee(role, PRACTICE, True), PRACTICE) is (role is VET)
    assert rules.may_be_assigned(_Assignee(role, OTHER_PRACTICE, True), PRACTICE) is False
    assert rules.may_be_assigned(_Assignee(role, PRACTICE, False), PRACTICE) is False


class _Assignee:
    def __init__(self, role: Role, practice_id: uuid.UUID | None, is_active: bool) -> None:
        self.role = role
        self.practice_id = practice_id
        self.is_active = is_active


# ---------------------------------------------------------------- the matrix parser

HEADER = "action                  OWNER  STAFF  VET  P_ADMIN  S_ADMIN"
# The module's own rows (the explicit table at the top of this file checks their meaning).
_GOOD_ROWS = [line for line in policy_matrix.MATRIX.strip().splitlines()[1:] if line.strip()]


def _matrix(rows: list[str], header: str = HEADER) -> str:
    return "\n".join(["", header, *rows, ""])


def test_parser_reads_the_good_table_like_the_module_does() -> None:
    assert policy_matrix._parse(_matrix(_GOOD_ROWS)) == policy_matrix.PERMISSIONS
    assert policy_matrix._parse(policy_matrix.MATRIX) == policy_matrix.PERMISSIONS


def _replace_row(index: int, row: str) -> list[str]:
    rows = list(_GOOD_ROWS)
    rows[index] = row
    return rows


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(_replace_row(4, "user.list  -  -  -  x"), id="too-few-marks"),
        pytest.param(_replace_row(4, "user.list  -  -  -  x  x  x"), id="too-many-marks"),
        pytest.param(_replace_row(4, "user.list"), id="no-marks"),
        pytest.param(_replace_row(4, "user.list  -  -  -  y  x"), id="unknown-mark"),
        pytest.param(_replace_row(4, "user.list  -  -  -  X  x"), id="capital-x"),
        pytest.param(_replace_row(4, "user.list  -  -  -  xx  x"), id="double-mark"),
        pytest.param(_replace_row(4, "user.lst  -  -  -  x  x"), id="unknown-action"),
        pytest.param(_GOOD_ROWS[:-1], id="missing-action"),
        pytest.param([*_GOOD_ROWS, "user.list  x  x  x  x  x"], id="duplicate-row"),
        pytest.param([], id="no-rows"),
    ],
)
def test_parser_refuses_malformed_rows(rows: list[str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any refusal; the message varies
        policy_matrix._parse(_matrix(rows))


@pytest.mark.parametrize(
    "header",
    [
        "action  STAFF  OWNER  VET  P_ADMIN  S_ADMIN",  # columns swapped: the table would lie
        "action  OWNER  STAFF  VET  P_ADMIN",
        "OWNER  STAFF  VET  P_ADMIN  S_ADMIN",
    ],
)
def test_parser_refuses_a_header_that_does_not_match_the_columns(header: str) -> None:
    with pytest.raises(ValueError, match="header"):
        policy_matrix._parse(_matrix(_GOOD_ROWS, header=header))


def test_parser_refuses_an_empty_matrix() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        policy_matrix._parse("")
