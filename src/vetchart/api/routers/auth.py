"""/api/v1/auth: signup, tokens, MFA, refresh, sessions, password."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Form, Request, Response, status

from vetchart.api.dependencies import AuthDep, RateLimitsDep
from vetchart.api.presenters import session_out, tokens_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.users import (
    MfaCodeIn,
    MfaRequiredOut,
    MfaVerifyIn,
    PasswordChangeIn,
    RecoveryCodesOut,
    RefreshIn,
    SessionOut,
    SignupIn,
    TokenOut,
    TotpEnrolmentOut,
    UserOut,
)
from vetchart.api.security import (
    PERSON_ONLY,
    CurrentPrincipal,
    EnrollingPrincipal,
    MetaDep,
    enforce_rate_limit,
    limit_by_address,
)
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.users import NewAccount
from vetchart.services.auth.sign_in import MfaChallenge

router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[PERSON_ONLY])


@audited(AuditAction.USER_SIGNUP)
@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    summary="Create a pet owner account",
    description="Always creates a `PET_OWNER`. Passwords: at least 15 characters; refused "
    "when blocklisted, trivially patterned, or containing the email name or product name "
    "(422 names the rule). A taken email is 409.",
    dependencies=[limit_by_address("signup")],
    responses=problem_responses(409, 422, 429),
)
async def signup(body: SignupIn, auth: AuthDep, meta: MetaDep) -> UserOut:
    account = NewAccount(email=body.email, full_name=body.full_name, password=body.password)
    user = await auth.signup(account, meta)
    return UserOut.model_validate(user)


@audited(AuditAction.AUTH_LOGIN)
@router.post(
    "/token",
    response_model=TokenOut | MfaRequiredOut,
    summary="Sign in with email and password (OAuth2 password form)",
    description="Returns a token pair, or for a user with MFA on `{mfa_required, mfa_token, "
    "expires_in}`. Wrong credentials are 401 whether or not the account exists. Repeated "
    "failures lock that account name for the client's address (IPv6: its /64) for a "
    "growing period (423); only a far higher number from all addresses together locks the "
    "name everywhere, briefly, except where the account recently signed in. The client "
    "address is also rate limited (429).",
    dependencies=[limit_by_address("login")],
    responses=problem_responses(401, 422, 423, 429),
)
async def token(
    username: Annotated[str, Form(min_length=1, max_length=320, description="The email.")],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    auth: AuthDep,
    meta: MetaDep,
    grant_type: Annotated[Literal["password"], Form()] = "password",
    scope: Annotated[str, Form(max_length=200)] = "",
) -> TokenOut | MfaRequiredOut:
    del grant_type, scope
    result = await auth.login(email=username, password=password, meta=meta)
    if isinstance(result, MfaChallenge):
        return MfaRequiredOut(mfa_token=result.mfa_token, expires_in=result.expires_in)
    return tokens_out(result)


@audited(AuditAction.AUTH_LOGIN)
@router.post(
    "/mfa/verify",
    response_model=TokenOut,
    summary="Second step of an MFA sign-in: a TOTP or recovery code",
    dependencies=[limit_by_address("mfa")],
    responses=problem_responses(401, 422, 423, 429),
)
async def mfa_verify(body: MfaVerifyIn, auth: AuthDep, meta: MetaDep) -> TokenOut:
    pair = await auth.verify_mfa(mfa_token=body.mfa_token, code=body.code, meta=meta)
    return tokens_out(pair)


@audited(AuditAction.AUTH_MFA_ENROL_START)
@router.post(
    "/mfa/totp",
    status_code=status.HTTP_201_CREATED,
    response_model=TotpEnrolmentOut,
    summary="Start TOTP enrolment",
    responses=problem_responses(401, 409, 429),
)
async def mfa_totp_start(
    principal: EnrollingPrincipal, auth: AuthDep, meta: MetaDep
) -> TotpEnrolmentOut:
    enrolment = await auth.start_totp(principal, meta)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@audited(AuditAction.AUTH_MFA_ENABLE)
@router.post(
    "/mfa/totp/confirm",
    response_model=RecoveryCodesOut,
    summary="Confirm TOTP enrolment with a code; MFA is on from now",
    description="Returns one-time recovery codes. They are shown only once.",
    responses=problem_responses(401, 409, 422, 429),
)
async def mfa_totp_confirm(
    body: MfaCodeIn, principal: EnrollingPrincipal, auth: AuthDep, meta: MetaDep
) -> RecoveryCodesOut:
    codes = await auth.confirm_totp(principal, code=body.code, meta=meta)
    return RecoveryCodesOut(recovery_codes=codes)


@audited(AuditAction.AUTH_MFA_DISABLE)
@router.delete(
    "/mfa/totp",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Turn MFA off (needs a current code)",
    description="Takes a TOTP or a recovery code. Wrong codes count towards the same "
    "throttles as the MFA sign-in step (423 once locked).",
    responses=problem_responses(401, 409, 422, 423, 429),
)
async def mfa_totp_disable(
    body: MfaCodeIn, principal: CurrentPrincipal, auth: AuthDep, meta: MetaDep
) -> None:
    await auth.disable_totp(principal, code=body.code, meta=meta)
    return None


@audited(AuditAction.AUTH_REFRESH)
@router.post(
    "/refresh",
    response_model=TokenOut,
    summary="Exchange a refresh token for a new pair (rotation)",
    description="The presented token is spent. Presenting a spent token again revokes its "
    "whole session (reuse detection) and answers 401.",
    dependencies=[limit_by_address("refresh")],
    responses=problem_responses(401, 422, 429),
)
async def refresh(body: RefreshIn, auth: AuthDep, meta: MetaDep) -> TokenOut:
    pair = await auth.refresh(refresh_token=body.refresh_token, meta=meta)
    return tokens_out(pair)


@audited(AuditAction.AUTH_LOGOUT)
@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke the current session (its access tokens stop working at once)",
    responses=problem_responses(401, 429),
)
async def logout(principal: EnrollingPrincipal, auth: AuthDep, meta: MetaDep) -> None:
    await auth.logout(principal, meta)
    return None


@audited(AuditAction.AUTH_LOGOUT_ALL)
@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke every session of the user",
    responses=problem_responses(401, 429),
)
async def logout_all(principal: EnrollingPrincipal, auth: AuthDep, meta: MetaDep) -> None:
    await auth.logout_all(principal, meta)
    return None


@audited(AuditAction.AUTH_SESSION_LIST)
@router.get(
    "/sessions",
    response_model=ListResponse[SessionOut],
    summary="The user's active sessions, newest first",
    responses=problem_responses(401, 403, 429),
)
async def sessions(principal: CurrentPrincipal, auth: AuthDep) -> ListResponse[SessionOut]:
    records = await auth.list_sessions(principal)
    items = [session_out(r, principal.session_id) for r in records]
    return ListResponse[SessionOut](items=items, next_cursor=None)


@audited(AuditAction.AUTH_SESSION_REVOKE)
@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of the user's sessions",
    responses=problem_responses(401, 403, 404, 429),
)
async def revoke_session(
    session_id: UUID, principal: CurrentPrincipal, auth: AuthDep, meta: MetaDep
) -> None:
    await auth.revoke_session(principal, session_id, meta)
    return None


@audited(AuditAction.AUTH_PASSWORD_CHANGE)
@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the password (revokes every other session)",
    description="Needs the current password. A wrong current password counts as a failed "
    "sign-in of the account from the caller's address (423 once locked).",
    responses=problem_responses(401, 403, 422, 423, 429),
)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    response: Response,
    principal: EnrollingPrincipal,
    auth: AuthDep,
    limiter: RateLimitsDep,
    meta: MetaDep,
) -> None:
    await enforce_rate_limit(request, limiter, response, "password", str(principal.user_id))
    await auth.change_password(
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        meta=meta,
    )
    return None
