"""Unit tests of the access policy: the permission matrix (every role x every action) and
the object-level scope rules of ``vetchart.domain.policy``."""

from __future__ import annotations

import itertools
import uuid

import pytest

import vetchart.domain.policy as policy_module
from vetchart.domain import policy
from vetchart.domain.errors import Forbidden, NotFound
from vetchart.domain.policy import (
    Action,
    Principal,
    authorize,
    can,
    check_role_assignment,
    must_enrol_mfa,
    require_user_in_scope,
    user_list_scope,
)
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
def test_can_matches_the_expected_matrix(role: Role, action: Action) -> None:
    assert can(principal(role), action) is EXPECTED[(role, action)]


@pytest.mark.parametrize(("role", "action"), ALL_PAIRS, ids=lambda v: str(v))
def test_authorize_raises_forbidden_exactly_when_not_allowed(role: Role, action: Action) -> None:
    actor = principal(role)
    if EXPECTED[(role, action)]:
        authorize(actor, action)  # no exception
    else:
        with pytest.raises(Forbidden) as caught:
            authorize(actor, action)
        assert caught.value.extra["action"] == action.value
        assert caught.value.code == "forbidden"


def test_permissions_do_not_depend_on_practice_or_mfa() -> None:
    for role, action in ALL_PAIRS:
        for practice_id, mfa in [(OTHER_PRACTICE, True), (PRACTICE, False)]:
            actor = principal(role, practice_id=practice_id, mfa=mfa)
            assert can(actor, action) is EXPECTED[(role, action)]


# ---------------------------------------------------------------- object-level scope


@pytest.mark.parametrize("target", [PRACTICE, OTHER_PRACTICE, None])
def test_system_admin_sees_every_user(target: uuid.UUID | None) -> None:
    require_user_in_scope(principal(S_ADMIN), target)


def test_practice_admin_sees_users_of_own_practice() -> None:
    require_user_in_scope(principal(P_ADMIN, practice_id=PRACTICE), PRACTICE)


@pytest.mark.parametrize("target", [OTHER_PRACTICE, None])
def test_practice_admin_does_not_see_other_users(target: uuid.UUID | None) -> None:
    with pytest.raises(NotFound):
        require_user_in_scope(principal(P_ADMIN, practice_id=PRACTICE), target)


@pytest.mark.parametrize("role", [OWNER, STAFF, VET])
@pytest.mark.parametrize("target", [PRACTICE, OTHER_PRACTICE, None])
def test_other_roles_see_no_users_at_all(role: Role, target: uuid.UUID | None) -> None:
    # Even users of their own practice: out-of-scope objects do not exist (404, not 403).
    actor = principal(role, practice_id=PRACTICE if role is not OWNER else None)
    with pytest.raises(NotFound):
        require_user_in_scope(actor, target)


def test_user_list_scope_is_everyone_for_system_admin() -> None:
    assert user_list_scope(principal(S_ADMIN)) is None


def test_user_list_scope_is_own_practice_for_practice_admin() -> None:
    assert user_list_scope(principal(P_ADMIN, practice_id=OTHER_PRACTICE)) == OTHER_PRACTICE


@pytest.mark.parametrize("role", [OWNER, STAFF, VET])
def test_user_list_scope_is_forbidden_for_other_roles(role: Role) -> None:
    with pytest.raises(Forbidden):
        user_list_scope(principal(role))


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
def test_check_role_assignment(current: Role, new: Role) -> None:
    if (current, new) in _ASSIGNABLE:
        check_role_assignment(current, new)
    else:
        with pytest.raises(Forbidden):
            check_role_assignment(current, new)


def test_nobody_can_be_made_system_admin_or_pet_owner_through_administration() -> None:
    for current in Role:
        for new in (S_ADMIN, OWNER):
            with pytest.raises(Forbidden):
                check_role_assignment(current, new)


@pytest.mark.parametrize("role", list(Role))
def test_must_enrol_mfa(role: Role) -> None:
    required = frozenset({S_ADMIN, P_ADMIN})
    expected = role in (S_ADMIN, P_ADMIN)
    assert must_enrol_mfa(principal(role, mfa=False), required) is expected
    # Once enrolled, nobody is held back; with no roles required, nobody either.
    assert must_enrol_mfa(principal(role, mfa=True), required) is False
    assert must_enrol_mfa(principal(role, mfa=False), frozenset()) is False


# ---------------------------------------------------------------- the matrix parser

HEADER = "action                  OWNER  STAFF  VET  P_ADMIN  S_ADMIN"
# The module's own rows (the explicit table at the top of this file checks their meaning).
_GOOD_ROWS = [line for line in policy_module.MATRIX.strip().splitlines()[1:] if line.strip()]


def _matrix(rows: list[str], header: str = HEADER) -> str:
    return "\n".join(["", header, *rows, ""])


def test_parser_reads_the_good_table_like_the_module_does() -> None:
    assert policy._parse(_matrix(_GOOD_ROWS)) == policy.PERMISSIONS
    assert policy._parse(policy.MATRIX) == policy.PERMISSIONS


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
        policy._parse(_matrix(rows))


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
        policy._parse(_matrix(_GOOD_ROWS, header=header))


def test_parser_refuses_an_empty_matrix() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        policy._parse("")
