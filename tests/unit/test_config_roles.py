from __future__ import annotations

import pytest
from pydantic import ValidationError

from vetchart.config import KNOWN_ROLES, AuthSettings
from vetchart.domain.users import Role


def test_settings_know_exactly_the_domain_roles() -> None:
    assert set(KNOWN_ROLES) == {role.value for role in Role}


def test_unknown_mfa_role_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="VETCHART_MFA_REQUIRED_ROLES"):
        AuthSettings(mfa_required_roles=["VET", "BOSS"])


def test_mfa_roles_are_split_from_a_comma_list() -> None:
    settings = AuthSettings(mfa_required_roles="VET, PRACTICE_ADMIN")  # type: ignore[arg-type]
    assert settings.mfa_required_roles == ["VET", "PRACTICE_ADMIN"]
