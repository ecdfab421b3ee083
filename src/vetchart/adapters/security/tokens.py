"""JWT access and MFA tokens (PyJWT), following RFC 8725.

- Only HS256 is accepted (the allowlist is pinned at verification; ``none`` is never).
- Each token names its key with ``kid``; keys are looked up among the configured ones
  only (never from ``jku``/``x5u``), so keys rotate: old keys verify until removed.
- Each kind of token has its own ``typ`` header (``at+jwt`` for access tokens, RFC 9068)
  and its own audience, so no other token passes as an access token.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import jwt

from vetchart.domain.errors import Unauthenticated
from vetchart.domain.users import User
from vetchart.services.ports.identity import AccessClaims, IssuedToken, MfaClaims

ALGORITHM = "HS256"
ACCESS_TYPE = "at+jwt"
MFA_TYPE = "mfa+jwt"
LEEWAY_SECONDS = 5
# Access tokens remembered as verified (per process); the oldest leave first.
VERIFIED_CACHE_SIZE = 10_000
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]


def key_id(secret: str) -> str:
    """A stable, non-reversible name for a key (first 16 hex of its SHA-256)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


class JwtTokens:
    def __init__(
        self,
        *,
        active_secret: str,
        previous_secrets: Sequence[str],
        issuer: str,
        audience: str,
        access_ttl: timedelta,
        mfa_ttl: timedelta,
    ) -> None:
        self._active_kid = key_id(active_secret)
        self._keys = {key_id(s): s.encode("utf-8") for s in [*previous_secrets, active_secret]}
        self._issuer = issuer
        self._audience = audience
        self._access_ttl = access_ttl
        self._mfa_ttl = mfa_ttl
        # token -> (claims, nbf, exp) of access tokens whose signature was checked.
        self._verified: dict[str, tuple[AccessClaims, float, float]] = {}

    # ------------------------------------------------------------------ issue

    def _encode(self, claims: dict[str, Any], typ: str) -> str:
        return jwt.encode(
            claims,
            self._keys[self._active_kid],
            algorithm=ALGORITHM,
            headers={"kid": self._active_kid, "typ": typ},
        )

    def _base(self, sub: str, audience: str, now: datetime, ttl: timedelta) -> dict[str, Any]:
        return {
            "iss": self._issuer,
            "aud": audience,
            "sub": sub,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }

    def issue_access(self, user: User, session_id: uuid.UUID, now: datetime) -> IssuedToken:
        claims = self._base(str(user.id), self._audience, now, self._access_ttl)
        claims.update({"sid": str(session_id), "role": user.role.value})
        return IssuedToken(self._encode(claims, ACCESS_TYPE), int(self._access_ttl.total_seconds()))

    def issue_mfa(self, user_id: uuid.UUID, now: datetime) -> IssuedToken:
        claims = self._base(str(user_id), self._mfa_audience, now, self._mfa_ttl)
        return IssuedToken(self._encode(claims, MFA_TYPE), int(self._mfa_ttl.total_seconds()))

    @property
    def _mfa_audience(self) -> str:
        return f"{self._audience}:mfa"

    # ------------------------------------------------------------------ verify

    def _decode(self, token: str, typ: str, audience: str, now: datetime) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated("The token is not valid.") from error
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("The token is not valid.")
        if header.get("typ") != typ:
            raise Unauthenticated("The token is not valid.")
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise Unauthenticated("The token is not valid.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("The token has expired.") from error
        except jwt.PyJWTError as error:
            raise Unauthenticated("The token is not valid.") from error
        # PyJWT checks exp/nbf against the wall clock; check against our clock as well.
        stamp = now.timestamp()
        if stamp > claims["exp"] + LEEWAY_SECONDS or stamp + LEEWAY_SECONDS < claims["nbf"]:
            raise Unauthenticated("The token is not valid at this time.")
        return claims

    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        """The claims of a valid access token. A token whose signature was verified
        before is not verified again while it is still valid: the cache is keyed by the
        whole token, signature included, so only the very same bytes hit it."""
        stamp = now.timestamp()
        cached = self._verified.get(token)
        if cached is not None:
            verified, not_before, expires = cached
            if stamp + LEEWAY_SECONDS >= not_before and stamp <= expires + LEEWAY_SECONDS:
                return verified
            del self._verified[token]
        claims = self._decode(token, ACCESS_TYPE, self._audience, now)
        try:
            verified = AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=uuid.UUID(str(claims["sid"])),
                role=str(claims["role"]),
                jti=str(claims["jti"]),
            )
        except (KeyError, ValueError) as error:
            raise Unauthenticated("The token is not valid.") from error
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (verified, float(claims["nbf"]), float(claims["exp"]))
        return verified

    def verify_mfa(self, token: str, now: datetime) -> MfaClaims:
        claims = self._decode(token, MFA_TYPE, self._mfa_audience, now)
        try:
            return MfaClaims(user_id=uuid.UUID(str(claims["sub"])), jti=str(claims["jti"]))
        except ValueError as error:
            raise Unauthenticated("The token is not valid.") from error
