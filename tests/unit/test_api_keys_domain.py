"""The API key rules without I/O: the key format, the digest at rest, the scopes a key
may have, the creation command, a key's state, and the policy's limits on a key."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import get_args
from uuid import uuid4

import pytest

from vetchart.api.schemas.api_keys import Scope
from vetchart.domain.api_keys import (
    INTEGRATION_ACTIONS,
    INTEGRATION_SCOPES,
    KEY_PATTERN,
    PUBLIC_ID_LENGTH,
    SECRET_LENGTH,
    ApiKey,
    CreateApiKey,
    KeyState,
    NewApiKey,
    check_expiry,
    generate,
    looks_like_key,
    parse,
    secret_digest,
)
from vetchart.domain.errors import Forbidden, NotFound, RuleViolation
from vetchart.domain.policy import (
    PERMISSIONS,
    Action,
    ApiKeyGrant,
    PracticeBusiness,
    PracticeConfiguration,
    Principal,
    require,
)
from vetchart.domain.users import Role
from vetchart.services.api_keys import cache_slot, key_principal

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def make_key(**changes: object) -> ApiKey:
    _, public_id, secret = generate()
    key = ApiKey(
        id=uuid4(),
        practice_id=uuid4(),
        public_id=public_id,
        name="Lab",
        secret_hash=secret_digest(secret),
        scopes=(Action.PET_READ,),
        created_by=uuid4(),
        created_at=NOW,
    )
    return replace(key, **changes)  # type: ignore[arg-type]


def test_a_new_key_has_the_format_and_parses_back() -> None:
    plaintext, public_id, secret = generate()
    assert plaintext == f"vck_{public_id}_{secret}"
    assert (len(public_id), len(secret)) == (PUBLIC_ID_LENGTH, SECRET_LENGTH) == (16, 52)
    assert KEY_PATTERN.fullmatch(plaintext)
    presented = parse(plaintext)
    assert presented is not None
    assert (presented.public_id, presented.secret) == (public_id, secret)
    assert secret not in repr(presented)
    assert looks_like_key(plaintext)
    assert not looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.sig")


def test_keys_are_random() -> None:
    made = {generate()[0] for _ in range(200)}
    assert len(made) == 200
    assert len({key[4:20] for key in made}) == 200


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "vck_",
        "vck_" + "a" * 16,
        "vck_" + "a" * 15 + "_" + "b" * 52,
        "vck_" + "a" * 16 + "_" + "b" * 51,
        "vck_" + "a" * 16 + "_" + "b" * 53,
        "vck_" + "A" * 16 + "_" + "b" * 52,
        "vck_" + "a" * 16 + "-" + "b" * 52,
        "xck_" + "a" * 16 + "_" + "b" * 52,
        " vck_" + "a" * 16 + "_" + "b" * 52,
        "vck_" + "a" * 16 + "_" + "b" * 52 + "\n",
    ],
)
def test_anything_else_does_not_parse(credential: str) -> None:
    assert parse(credential) is None


def test_only_the_sha256_of_the_secret_is_kept_and_compared() -> None:
    plaintext, _, secret = generate()
    key = make_key(secret_hash=secret_digest(secret))
    assert key.secret_hash == hashlib.sha256(secret.encode()).digest()
    assert plaintext not in repr(key)
    assert secret not in repr(key)
    assert key.matches(secret)
    assert not key.matches(secret[:-1] + ("a" if secret[-1] != "a" else "b"))
    made = NewApiKey(key=key, plaintext=plaintext)
    assert plaintext not in repr(made)


def test_integration_scopes_are_a_practice_admins_and_never_a_persons() -> None:
    for action in INTEGRATION_ACTIONS:
        assert Role.PRACTICE_ADMIN in PERMISSIONS[action], action
    never = {
        Action.OWN_PROFILE_READ,
        Action.OWN_PROFILE_UPDATE,
        Action.OWN_SESSIONS_MANAGE,
        Action.MFA_MANAGE,
        Action.USER_LIST,
        Action.USER_READ,
        Action.USER_UPDATE,
        Action.USER_UNLOCK,
        Action.USER_CREATE_ADMIN,
        Action.INVITATION_CREATE,
        Action.INVITATION_MANAGE,
        Action.INVITATION_ACCEPT_EXISTING,
        Action.API_KEY_MANAGE,
        Action.WEBHOOK_MANAGE,
        Action.AUDIT_SEARCH,
        Action.PRACTICE_UPDATE,
        Action.PRACTICE_DEACTIVATE,
        Action.PET_OWNER_ERASE,
    }
    assert INTEGRATION_ACTIONS & never == set()
    assert PERMISSIONS[Action.API_KEY_MANAGE] == frozenset({Role.PRACTICE_ADMIN})


def test_the_openapi_scope_enum_is_the_domains() -> None:
    assert tuple(sorted(get_args(Scope))) == INTEGRATION_SCOPES


def test_the_command_normalises_and_refuses() -> None:
    command = CreateApiKey(
        name="  Booking   site ", scopes=("pet.read", "pet.read", "appointment.read")
    )
    assert command.name == "Booking site"
    assert command.scopes == ("appointment.read", "pet.read")
    for bad in [
        {"name": "x", "scopes": ()},
        {"name": "x", "scopes": ("user.update",)},
        {"name": "x", "scopes": ("nonsense",)},
        {"name": " ", "scopes": ("pet.read",)},
        {"name": "x" * 201, "scopes": ("pet.read",)},
        {"name": "x", "scopes": ("pet.read",), "expires_at": datetime(2027, 1, 1)},
    ]:
        with pytest.raises(RuleViolation):
            CreateApiKey(**bad)  # type: ignore[arg-type]
    with pytest.raises(RuleViolation):
        check_expiry(NOW, NOW)
    check_expiry(NOW + timedelta(seconds=1), NOW)
    check_expiry(None, NOW)


def test_a_keys_state() -> None:
    assert make_key().state(NOW) is KeyState.ACTIVE
    assert make_key(expires_at=NOW + timedelta(seconds=1)).state(NOW) is KeyState.ACTIVE
    assert make_key(expires_at=NOW).state(NOW) is KeyState.EXPIRED
    revoked = make_key(revoked_at=NOW, expires_at=NOW - timedelta(days=1))
    assert revoked.state(NOW) is KeyState.REVOKED


def test_a_keys_principal_is_its_practices_admin_limited_to_its_scopes() -> None:
    key = make_key(scopes=(Action.PET_READ, Action.PRACTICE_STAFF_LIST))
    principal = key_principal(key)
    assert principal.role is Role.PRACTICE_ADMIN
    assert principal.practice_id == key.practice_id
    assert principal.user_id == key.created_by
    assert principal.api_key_id == key.id
    assert principal.scopes == frozenset({"pet.read", "practice.staff_list"})
    assert principal.session_id == cache_slot(key.public_id)
    assert key.secret_hash.hex() not in repr(principal)

    require(principal, Action.PRACTICE_STAFF_LIST, PracticeBusiness(key.practice_id))
    with pytest.raises(Forbidden) as refused:
        require(principal, Action.PET_CREATE)
    assert refused.value.code == "api-key-scope"
    # In scope, but another practice's: refused as for the practice's own admin.
    with pytest.raises(Forbidden) as other:
        require(principal, Action.PRACTICE_STAFF_LIST, PracticeBusiness(uuid4()))
    assert other.value.code == "forbidden"
    # Out of scope is refused before the object is looked at (no existence oracle).
    with pytest.raises(Forbidden) as first:
        require(principal, Action.WEBHOOK_MANAGE, PracticeConfiguration(uuid4(), "Webhook"))
    assert first.value.code == "api-key-scope"


def test_a_person_is_not_limited_by_scopes() -> None:
    person = Principal(
        user_id=uuid4(),
        role=Role.PRACTICE_ADMIN,
        practice_id=uuid4(),
        session_id=uuid4(),
        mfa_enabled=True,
    )
    assert person.api_key_id is None
    assert person.scopes is None
    require(person, Action.WEBHOOK_MANAGE)
    with pytest.raises(NotFound):
        require(person, Action.WEBHOOK_MANAGE, PracticeConfiguration(uuid4(), "Webhook"))
    grant = ApiKeyGrant(id=uuid4(), created_by=uuid4(), scopes=frozenset())
    with pytest.raises(Forbidden):
        require(replace(person, api_key=grant), Action.PRACTICE_READ)
