"""Authentication and request-meta dependencies. They resolve who is calling; the domain
policy (in the services) decides what they may do."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vetchart.api.context import current_request_id
from vetchart.api.dependencies import RateLimits, RateLimitsDep, container_of
from vetchart.api.problems import RATE_LIMIT_STATE_KEY
from vetchart.domain.api_keys import looks_like_key
from vetchart.domain.audit import RequestMeta
from vetchart.domain.errors import Forbidden, RateLimited, Unauthenticated
from vetchart.domain.policy import Principal, must_enrol_mfa
from vetchart.domain.throttle import client_network
from vetchart.domain.users import Role

MAX_USER_AGENT_LENGTH = 300
# The rate limits of API keys (bootstrap/adapters.py): per key, and refusals per address.
API_KEY_LIMIT = "api_key"
API_KEY_FAILURE_LIMIT = "api_key_failure"

bearer = HTTPBearer(
    auto_error=False,
    description="An access token from /api/v1/auth/token, or an integration's API key "
    "(vck_..., also accepted as X-API-Key).",
)


@lru_cache(maxsize=32)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _is_trusted(address: str, trusted: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(trusted)))


def client_address(request: Request) -> str | None:
    """The socket peer, unless it is a configured trusted proxy: then the right-most
    address in X-Forwarded-For that is not itself a trusted proxy. Anything a client
    writes into X-Forwarded-For is ignored when it connects directly."""
    peer = request.client.host if request.client else None
    trusted: list[str] = request.app.state.settings.server.trusted_proxies
    if peer is None or not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


async def request_meta(request: Request) -> RequestMeta:
    agent = request.headers.get("user-agent")
    return RequestMeta(
        request_id=current_request_id(),
        client_address=client_address(request),
        user_agent=agent[:MAX_USER_AGENT_LENGTH] if agent else None,
    )


MetaDep = Annotated[RequestMeta, Depends(request_meta)]


async def enforce_rate_limit(
    request: Request, limiter: RateLimits, response: Response, name: str, identity: str
) -> None:
    """Count one request against the named limit; 429 when it is spent.

    The ``RateLimit-*`` headers go on the response, and are kept on the request state so
    that error answers (401, 422, 423, ...) built by the problem handlers carry them too.
    """
    decision = await limiter.hit(name, identity)
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }
    if not decision.allowed:
        # The refusal carries the spent limit's headers (api/problems.py adds them).
        setattr(request.state, RATE_LIMIT_STATE_KEY, headers)
        raise RateLimited(retry_after_seconds=max(1, decision.reset_seconds))
    # With several limits on one request (an address limit, then the per-user one), the
    # most constraining one is reported.
    previous: dict[str, str] | None = getattr(request.state, RATE_LIMIT_STATE_KEY, None)
    if previous is None or int(previous["RateLimit-Remaining"]) >= decision.remaining:
        setattr(request.state, RATE_LIMIT_STATE_KEY, headers)
        response.headers.update(headers)


def limit_by_address(name: str) -> Any:
    """A dependency that applies the named limit per client address."""

    async def dependency(request: Request, response: Response, limiter: RateLimitsDep) -> None:
        identity = client_address(request) or "unknown"
        await enforce_rate_limit(request, limiter, response, name, identity)

    return Depends(dependency)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


# An integration's API key (domain/api_keys.py): in this header, or as the bearer token.
API_KEY_HEADER = "x-api-key"


def presented_api_key(request: Request) -> str | None:
    """The API key a request presents (X-API-Key, or a bearer token that reads as a key),
    or None: then a bearer token, if any, is an access token."""
    header = request.headers.get(API_KEY_HEADER)
    if header is not None:
        return header.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and looks_like_key(value):
        return value
    return None


async def _authenticate_key(request: Request, response: Response, key: str) -> Principal:
    """The principal of an API key. Refused keys are counted per client address: past
    VETCHART_API_KEY_FAILURE_RATE_LIMIT the answer is 429 before any look-up (and no
    further audit row is written for that address) — except for a key this process
    authenticated a moment ago, so that junk keys sent from a shared address (NAT, a
    proxy) cannot lock a working integration out."""
    container = container_of(request)
    remembered = container.api_keys.remembered(key)
    if remembered is not None:
        return remembered
    limiter = container.rate_limiter
    address = client_network(client_address(request))  # IPv6: its /64, as for sign-in
    if await limiter.spent(API_KEY_FAILURE_LIMIT, address):
        await enforce_rate_limit(request, limiter, response, API_KEY_FAILURE_LIMIT, address)
    try:
        return await container.api_keys.authenticate(key, await request_meta(request))
    except Unauthenticated:
        await enforce_rate_limit(request, limiter, response, API_KEY_FAILURE_LIMIT, address)
        raise


async def _authenticate(
    request: Request, response: Response, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller of this request (a plain function, not a dependency: each dependency
    FastAPI resolves costs every request, so the two below each call it directly): an
    API key's principal, or an access token's. A key is rate limited per key, a person
    per user."""
    key = presented_api_key(request)
    if key is not None:
        principal = await _authenticate_key(request, response, key)
        limit, identity = API_KEY_LIMIT, str(principal.api_key_id)
    else:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated("Sign in: a bearer access token is required.")
        principal = await container_of(request).auth.authenticate(credentials.credentials)
        limit, identity = "default", str(principal.user_id)
    structlog.contextvars.bind_contextvars(
        user_id=str(principal.user_id),
        practice_id=str(principal.practice_id) if principal.practice_id else None,
        api_key_id=str(principal.api_key_id) if principal.api_key_id else None,
    )
    request.state.principal = principal
    await enforce_rate_limit(request, container_of(request).rate_limiter, response, limit, identity)
    return principal


async def refuse_api_keys(request: Request) -> None:
    """For the routes of a person only (sign-in, sessions, MFA, password, their own
    account, the management of users, invitations and API keys): a request made with an
    API key is refused, 403 ``api-key-not-allowed``, whether or not the key is valid."""
    if presented_api_key(request) is not None:
        raise Forbidden(
            "API keys cannot be used here: this is for a signed-in person only.",
            code="api-key-not-allowed",
        )


# A router's or route's ``dependencies=[PERSON_ONLY]``.
PERSON_ONLY = Depends(refuse_api_keys)


async def principal_enrolling(
    request: Request, response: Response, credentials: Credentials
) -> Principal:
    """Any authenticated caller, including one who still has to enrol in MFA."""
    return await _authenticate(request, response, credentials)


async def principal_required(
    request: Request, response: Response, credentials: Credentials
) -> Principal:
    """An authenticated caller who has done every step their role requires (MFA)."""
    principal = await _authenticate(request, response, credentials)
    required: frozenset[Role] = container_of(request).mfa_required_roles
    if must_enrol_mfa(principal, required):
        raise Forbidden(
            "Your role requires two-factor authentication: enrol at /api/v1/auth/mfa/totp first.",
            code="mfa-enrolment-required",
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(principal_required)]
EnrollingPrincipal = Annotated[Principal, Depends(principal_enrolling)]
