"""User and auth schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.domain.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from vetchart.domain.users import Role

EMAIL_FIELD = Field(min_length=3, max_length=320, examples=["alex@example.com"])
NAME_FIELD = Field(min_length=1, max_length=200, examples=["Alex Morgan"])
PASSWORD_FIELD = Field(
    min_length=1,
    max_length=MAX_PASSWORD_LENGTH,
    description=f"At least {MIN_PASSWORD_LENGTH} characters (the 422 names any rule it breaks).",
    examples=["purple-otter-reads-maps-at-dawn"],
)


# A practice's staff member as its staff list shows them; the account (``UserOut``) adds
# its MFA state and times.
class StaffOut(ResponseModel):
    id: UUID
    email: str
    full_name: str
    role: Role
    practice_id: UUID | None
    is_active: bool


class UserOut(StaffOut):
    mfa_enabled: bool
    created_at: datetime
    updated_at: datetime


class SignupIn(RequestModel):
    email: str = EMAIL_FIELD
    password: str = PASSWORD_FIELD
    full_name: str = NAME_FIELD


class TokenOut(ResponseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    refresh_token: str


class MfaRequiredOut(ResponseModel):
    mfa_required: Literal[True] = True
    mfa_token: str
    expires_in: int


class RefreshIn(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class MfaVerifyIn(RequestModel):
    mfa_token: str = Field(min_length=1, max_length=4096)
    code: str = Field(min_length=1, max_length=64)


class MfaCodeIn(RequestModel):
    code: str = Field(min_length=1, max_length=64)


class TotpEnrolmentOut(ResponseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesOut(ResponseModel):
    recovery_codes: list[str]


class SessionOut(ResponseModel):
    id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    client_address: str | None
    user_agent: str | None
    current: bool


class PasswordChangeIn(RequestModel):
    current_password: str = PASSWORD_FIELD
    new_password: str = PASSWORD_FIELD


class MeUpdateIn(RequestModel):
    """Only the name is yours to change here; role, practice and status are not."""

    full_name: str | None = Field(default=None, min_length=1, max_length=200)


class UserAdminUpdateIn(RequestModel):
    role: Role | None = None
    is_active: bool | None = None
