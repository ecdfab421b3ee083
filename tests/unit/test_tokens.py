"""Unit tests of the security adapters: JWT access/MFA tokens (RFC 8725), TOTP, the sealed
secret box and the short-lived principal cache."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from vetchart.adapters.security import cache as cache_module
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.adapters.security.mfa import FernetSecretBox, PyOtpTotp
from vetchart.adapters.security.tokens import ACCESS_TYPE, MFA_TYPE, JwtTokens, key_id
from vetchart.domain.errors import Unauthenticated
from vetchart.domain.policy import Principal
from vetchart.domain.users import Role, User

# 64 bytes and more, so that even HS512 forgeries raise no key-length warning.
_PAD = "-0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "unit-test-signing-secret-ACTIVE" + _PAD
OLD_SECRET = "unit-test-signing-secret-OLD" + _PAD
NEW_SECRET = "unit-test-signing-secret-NEW" + _PAD
OTHER_SECRET = "an-attacker-controlled-secret" + _PAD
ISSUER = "vetchart"
AUDIENCE = "vetchart-api"


def make_tokens(
    active: str = SECRET,
    previous: tuple[str, ...] = (),
    *,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
) -> JwtTokens:
    return JwtTokens(
        active_secret=active,
        previous_secrets=list(previous),
        issuer=issuer,
        audience=audience,
        access_ttl=timedelta(minutes=15),
        mfa_ttl=timedelta(minutes=5),
    )


def make_user(role: Role = Role.VET) -> User:
    now = datetime.now(UTC)
    return User(
        id=uuid.uuid4(),
        email="vet@example.org",
        full_name="A Vet",
        role=role,
        practice_id=uuid.uuid4() if role is Role.VET else None,
        is_active=True,
        password_hash="$argon2id$unused",
        mfa_enabled=False,
        created_at=now,
        updated_at=now,
    )


def now() -> datetime:
    return datetime.now(UTC)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


def sign(
    claims: dict[str, Any],
    *,
    secret: str = SECRET,
    alg: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> str:
    """A token signed with the given key and header (defaults: a well-formed access token)."""
    header = {"kid": key_id(secret), "typ": ACCESS_TYPE}
    header.update(headers or {})
    return jwt.encode(claims, secret.encode("utf-8"), algorithm=alg, headers=header)


def raw_sign(header: dict[str, Any], claims: dict[str, Any], secret: str = SECRET) -> str:
    """An HS256 token built by hand, so that any header (even an invalid one) can be sent."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = jwt.get_algorithm_by_name("HS256").sign(signing_input.encode(), secret.encode())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def tokens() -> JwtTokens:
    return make_tokens()


@pytest.fixture
def access_claims(tokens: JwtTokens) -> dict[str, Any]:
    """The claims of a genuine, currently valid access token."""
    return parts(tokens.issue_access(make_user(), uuid.uuid4(), now()).token)[1]


def assert_refused(tokens: JwtTokens, token: str, *, at: datetime | None = None) -> None:
    with pytest.raises(Unauthenticated):
        tokens.verify_access(token, at or now())


# ---------------------------------------------------------------- issue and verify


def test_access_token_roundtrip(tokens: JwtTokens) -> None:
    user = make_user(Role.PRACTICE_ADMIN)
    session_id = uuid.uuid4()
    issued_at = now()
    issued = tokens.issue_access(user, session_id, issued_at)
    assert issued.expires_in == 15 * 60

    header, claims = parts(issued.token)
    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": key_id(SECRET)}
    assert set(claims) >= {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "role"}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == str(user.id)
    assert claims["sid"] == str(session_id)
    assert claims["role"] == "PRACTICE_ADMIN"
    assert claims["iat"] == claims["nbf"] == int(issued_at.timestamp())
    assert claims["exp"] - claims["iat"] == 15 * 60

    verified = tokens.verify_access(issued.token, now())
    assert verified.user_id == user.id
    assert verified.session_id == session_id
    assert verified.role == "PRACTICE_ADMIN"
    assert verified.jti == claims["jti"]


def test_every_token_has_its_own_jti(tokens: JwtTokens) -> None:
    user, sid, at = make_user(), uuid.uuid4(), now()
    jtis = {parts(tokens.issue_access(user, sid, at).token)[1]["jti"] for _ in range(20)}
    assert len(jtis) == 20


def test_mfa_token_roundtrip(tokens: JwtTokens) -> None:
    user_id = uuid.uuid4()
    issued = tokens.issue_mfa(user_id, now())
    assert issued.expires_in == 5 * 60
    header, claims = parts(issued.token)
    assert header["typ"] == MFA_TYPE
    assert claims["aud"] != AUDIENCE
    verified = tokens.verify_mfa(issued.token, now())
    assert verified.user_id == user_id
    assert verified.jti == claims["jti"]


def test_key_id_is_stable_and_does_not_reveal_the_secret() -> None:
    assert key_id(SECRET) == key_id(SECRET)
    assert key_id(SECRET) != key_id(OTHER_SECRET)
    assert len(key_id(SECRET)) == 16
    assert SECRET not in key_id(SECRET)


def test_a_hand_signed_token_with_the_right_key_is_accepted(
    tokens: JwtTokens, access_claims: dict[str, Any]
) -> None:
    # The baseline for the forged variants below: only the named defect makes them fail.
    tokens.verify_access(sign(access_claims), now())
    header = {"alg": "HS256", "typ": ACCESS_TYPE, "kid": key_id(SECRET)}
    tokens.verify_access(raw_sign(header, access_claims), now())


# ---------------------------------------------------------------- algorithm attacks


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "AAAA"])
def test_alg_none_in_any_spelling_is_refused(
    tokens: JwtTokens, access_claims: dict[str, Any], spelling: str, signature: str
) -> None:
    header = {"alg": spelling, "typ": ACCESS_TYPE, "kid": key_id(SECRET)}
    token = f"{b64json(header)}.{b64json(access_claims)}.{signature}"
    assert_refused(tokens, token)


def test_alg_none_with_a_genuine_signature_is_refused(
    tokens: JwtTokens, access_claims: dict[str, Any]
) -> None:
    genuine = sign(access_claims)
    signature = genuine.rsplit(".", 1)[1]
    header = {"alg": "none", "typ": ACCESS_TYPE, "kid": key_id(SECRET)}
    assert_refused(tokens, f"{b64json(header)}.{b64json(access_claims)}.{signature}")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused_even_with_the_right_key(
    tokens: JwtTokens, access_claims: dict[str, Any], alg: str
) -> None:
    assert_refused(tokens, sign(access_claims, alg=alg))


def test_rs256_is_refused(tokens: JwtTokens, access_claims: dict[str, Any]) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = jwt.encode(
        access_claims,
        pem,
        algorithm="RS256",
        headers={"kid": key_id(SECRET), "typ": ACCESS_TYPE},
    )
    assert_refused(tokens, token)


def test_hs256_header_over_an_hs512_signature_is_refused(
    tokens: JwtTokens, access_claims: dict[str, Any]
) -> None:
    hs512 = sign(access_claims, alg="HS512")
    _, payload, signature = hs512.split(".")
    header = {"alg": "HS256", "typ": ACCESS_TYPE, "kid": key_id(SECRET)}
    assert_refused(tokens, f"{b64json(header)}.{payload}.{signature}")


# ---------------------------------------------------------------- keys


def test_wrong_key_is_refused(tokens: JwtTokens, access_claims: dict[str, Any]) -> None:
    # Claiming the configured kid does not help without the configured key.
    forged = sign(access_claims, secret=OTHER_SECRET, headers={"kid": key_id(SECRET)})
    assert_refused(tokens, forged)


def test_unknown_kid_is_refused(tokens: JwtTokens, access_claims: dict[str, Any]) -> None:
    assert_refused(tokens, sign(access_claims, secret=OTHER_SECRET))
    # Even when the signature is made with the configured key.
    assert_refused(tokens, sign(access_claims, headers={"kid": "0000000000000000"}))


@pytest.mark.parametrize("kid", [None, "", 0, ["x"], {"k": 1}])
def test_missing_or_malformed_kid_is_refused(
    tokens: JwtTokens, access_claims: dict[str, Any], kid: Any
) -> None:
    header: dict[str, Any] = {"alg": "HS256", "typ": ACCESS_TYPE}
    if kid is not None:
        header["kid"] = kid
    assert_refused(tokens, raw_sign(header, access_claims))


def test_rotation_old_key_verifies_until_removed() -> None:
    before = make_tokens(active=OLD_SECRET)
    token = before.issue_access(make_user(), uuid.uuid4(), now()).token
    assert parts(token)[0]["kid"] == key_id(OLD_SECRET)

    rotated = make_tokens(active=NEW_SECRET, previous=(OLD_SECRET,))
    rotated.verify_access(token, now())
    # The rotated instance signs with the new key only.
    fresh = rotated.issue_access(make_user(), uuid.uuid4(), now()).token
    assert parts(fresh)[0]["kid"] == key_id(NEW_SECRET)
    with pytest.raises(Unauthenticated):
        before.verify_access(fresh, now())

    after_removal = make_tokens(active=NEW_SECRET)
    with pytest.raises(Unauthenticated):
        after_removal.verify_access(token, now())
    after_removal.verify_access(fresh, now())


def test_rotation_also_applies_to_mfa_tokens() -> None:
    token = make_tokens(active=OLD_SECRET).issue_mfa(uuid.uuid4(), now()).token
    make_tokens(active=NEW_SECRET, previous=(OLD_SECRET,)).verify_mfa(token, now())
    with pytest.raises(Unauthenticated):
        make_tokens(active=NEW_SECRET).verify_mfa(token, now())


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and refuses) any attempt to fetch a URL."""
    fetched: list[str] = []

    def refuse(url: Any, *args: Any, **kwargs: Any) -> Any:
        fetched.append(str(getattr(url, "full_url", url)))
        raise AssertionError(f"the token verifier tried to fetch {url!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", refuse)
    return fetched


@pytest.mark.parametrize("header_name", ["jku", "x5u"])
def test_jku_and_x5u_are_never_followed(
    tokens: JwtTokens, access_claims: dict[str, Any], no_network: list[str], header_name: str
) -> None:
    url = "https://attacker.example/keys.json"
    # A key the verifier does not know, announced through a URL: refused, nothing fetched.
    assert_refused(
        tokens,
        sign(
            access_claims,
            secret=OTHER_SECRET,
            headers={header_name: url, "kid": key_id(OTHER_SECRET)},
        ),
    )
    assert_refused(
        tokens,
        sign(access_claims, secret=OTHER_SECRET, headers={header_name: url, "kid": "attacker"}),
    )
    # The configured kid with the attacker's key: refused too.
    assert_refused(
        tokens,
        sign(access_claims, secret=OTHER_SECRET, headers={header_name: url}),
    )
    # The header is ignored, not honoured: a genuine token carrying it is still fine.
    tokens.verify_access(sign(access_claims, headers={header_name: url}), now())
    assert no_network == []


def test_an_embedded_jwk_is_not_trusted(tokens: JwtTokens, access_claims: dict[str, Any]) -> None:
    jwk = {"kty": "oct", "k": b64(OTHER_SECRET.encode()), "kid": "attacker"}
    assert_refused(
        tokens,
        sign(access_claims, secret=OTHER_SECRET, headers={"jwk": jwk, "kid": "attacker"}),
    )


# ---------------------------------------------------------------- time


def test_expired_token_is_refused(tokens: JwtTokens) -> None:
    issued = tokens.issue_access(make_user(), uuid.uuid4(), now() - timedelta(hours=1)).token
    assert_refused(tokens, issued)


def test_expiry_is_also_checked_against_the_given_clock(tokens: JwtTokens) -> None:
    issued_at = now()
    token = tokens.issue_access(make_user(), uuid.uuid4(), issued_at).token
    tokens.verify_access(token, issued_at + timedelta(minutes=14))
    assert_refused(tokens, token, at=issued_at + timedelta(minutes=16))


def test_future_nbf_is_refused(tokens: JwtTokens, access_claims: dict[str, Any]) -> None:
    in_an_hour = now() + timedelta(hours=1)
    issued = tokens.issue_access(make_user(), uuid.uuid4(), in_an_hour).token
    assert_refused(tokens, issued)
    future = int(in_an_hour.timestamp())
    assert_refused(tokens, sign({**access_claims, "nbf": future}))


def test_nbf_is_also_checked_against_the_given_clock(tokens: JwtTokens) -> None:
    issued_at = now()
    token = tokens.issue_access(make_user(), uuid.uuid4(), issued_at).token
    assert_refused(tokens, token, at=issued_at - timedelta(minutes=1))


def test_expired_mfa_token_is_refused(tokens: JwtTokens) -> None:
    token = tokens.issue_mfa(uuid.uuid4(), now() - timedelta(minutes=10)).token
    with pytest.raises(Unauthenticated):
        tokens.verify_mfa(token, now())


# ---------------------------------------------------------------- audience, issuer, type


def test_wrong_audience_is_refused(tokens: JwtTokens) -> None:
    other = make_tokens(audience="some-other-api")
    assert_refused(tokens, other.issue_access(make_user(), uuid.uuid4(), now()).token)


def test_wrong_issuer_is_refused(tokens: JwtTokens) -> None:
    other = make_tokens(issuer="https://someone-else.example")
    assert_refused(tokens, other.issue_access(make_user(), uuid.uuid4(), now()).token)


def test_mfa_token_cannot_be_used_as_an_access_token(tokens: JwtTokens) -> None:
    mfa = tokens.issue_mfa(uuid.uuid4(), now()).token
    assert_refused(tokens, mfa)


def test_mfa_token_relabelled_as_access_is_still_refused(tokens: JwtTokens) -> None:
    # Even with a forged typ, the MFA audience (and missing sid/role) keep it out.
    claims = parts(tokens.issue_mfa(uuid.uuid4(), now()).token)[1]
    assert_refused(tokens, sign(claims, headers={"typ": ACCESS_TYPE}))
    assert_refused(tokens, sign({**claims, "sid": str(uuid.uuid4()), "role": "SYSTEM_ADMIN"}))


def test_access_token_cannot_be_used_as_an_mfa_token(tokens: JwtTokens) -> None:
    access = tokens.issue_access(make_user(), uuid.uuid4(), now()).token
    with pytest.raises(Unauthenticated):
        tokens.verify_mfa(access, now())


@pytest.mark.parametrize("typ", [None, "JWT", "AT+JWT ", "mfa+jwt", "at+jwt+mfa"])
def test_wrong_or_missing_typ_is_refused(
    tokens: JwtTokens, access_claims: dict[str, Any], typ: str | None
) -> None:
    header: dict[str, Any] = {"alg": "HS256", "kid": key_id(SECRET)}
    if typ is not None:
        header["typ"] = typ
    assert_refused(tokens, raw_sign(header, access_claims))


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "role"])
def test_missing_required_claim_is_refused(
    tokens: JwtTokens, access_claims: dict[str, Any], claim: str
) -> None:
    claims = {k: v for k, v in access_claims.items() if k != claim}
    assert_refused(tokens, sign(claims))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", "not-a-uuid"),
        ("sid", "not-a-uuid"),
        ("sid", 42),
        ("exp", "tomorrow"),
        ("nbf", "yesterday"),
        ("iat", "now"),
        ("aud", ["someone-else"]),
    ],
)
def test_malformed_claims_are_refused(
    tokens: JwtTokens, access_claims: dict[str, Any], claim: str, value: Any
) -> None:
    assert_refused(tokens, sign({**access_claims, claim: value}))


def test_tampered_payload_is_refused(tokens: JwtTokens, access_claims: dict[str, Any]) -> None:
    header, _, signature = sign(access_claims).split(".")
    escalated = b64json({**access_claims, "role": "SYSTEM_ADMIN"})
    assert_refused(tokens, f"{header}.{escalated}.{signature}")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "a.b.c",
        "..",
        "...",
        "Bearer x.y.z",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9..",
        f"{b64json([1, 2])}.{b64json({})}.",
        f"{b64json('alg')}.{b64json({})}.",
        "é.é.é",
        "x" * 10_000,
    ],
)
def test_garbage_is_refused(tokens: JwtTokens, garbage: str) -> None:
    assert_refused(tokens, garbage)
    with pytest.raises(Unauthenticated):
        tokens.verify_mfa(garbage, now())


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=", max_size=40), max_size=5).map(
            ".".join
        ),
    )
)
def test_property_any_string_is_refused_with_unauthenticated_only(garbage: str) -> None:
    verifier = make_tokens()
    with pytest.raises(Unauthenticated):
        verifier.verify_access(garbage, now())
    with pytest.raises(Unauthenticated):
        verifier.verify_mfa(garbage, now())


# ---------------------------------------------------------------- TOTP

# RFC 6238 appendix B (SHA-1 secret "12345678901234567890"), last six digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")
RFC_VECTORS = [
    (59, "287082"),
    (1111111109, "081804"),
    (1234567890, "005924"),
    (2000000000, "279037"),
]


@pytest.fixture
def totp() -> PyOtpTotp:
    return PyOtpTotp(issuer="vetchart")


@pytest.mark.parametrize(("timestamp", "code"), RFC_VECTORS)
def test_totp_matches_the_rfc_6238_vectors(totp: PyOtpTotp, timestamp: int, code: str) -> None:
    at = datetime.fromtimestamp(timestamp, UTC)
    assert totp.matching_timestep(RFC_SECRET, code, at) == timestamp // 30


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_totp_accepts_the_current_and_adjacent_steps(totp: PyOtpTotp, offset: int) -> None:
    # The code of 1234567890 (step 41152263), checked from one step before/after.
    at = datetime.fromtimestamp(1234567890 - offset * 30, UTC)
    assert totp.matching_timestep(RFC_SECRET, "005924", at) == 1234567890 // 30


@pytest.mark.parametrize("offset", [-3, -2, 2, 3, 100])
def test_totp_refuses_codes_further_away(totp: PyOtpTotp, offset: int) -> None:
    at = datetime.fromtimestamp(1234567890 - offset * 30, UTC)
    assert totp.matching_timestep(RFC_SECRET, "005924", at) is None


def test_totp_with_a_fresh_secret(totp: PyOtpTotp) -> None:
    import pyotp

    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) >= 16  # at least 128 bits
    at = datetime(2025, 6, 1, 8, 0, 15, tzinfo=UTC)
    step = int(at.timestamp()) // 30
    generator = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        code = generator.at(at + timedelta(seconds=30 * offset))
        assert totp.matching_timestep(secret, code, at) == step + offset
    assert totp.new_secret() != secret


@pytest.mark.parametrize("code", ["", "28708", "2870820", "abcdef", "287 082", "000000"])
def test_totp_refuses_malformed_and_wrong_codes(totp: PyOtpTotp, code: str) -> None:
    assert totp.matching_timestep(RFC_SECRET, code, datetime.fromtimestamp(59, UTC)) is None


def test_totp_provisioning_uri(totp: PyOtpTotp) -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "vet@example.org")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={RFC_SECRET}" in uri
    assert "issuer=vetchart" in uri


# ---------------------------------------------------------------- sealed secrets


def test_secret_box_roundtrip() -> None:
    box = FernetSecretBox("encryption-key-for-unit-tests-0123456789")
    for plaintext in ["JBSWY3DPEHPK3PXP", "", "ünïcødé ✓"]:
        sealed = box.seal(plaintext)
        assert plaintext not in sealed or plaintext == ""
        assert box.open(sealed) == plaintext
    # Each seal is fresh (random IV), yet both open.
    first, second = box.seal("same"), box.seal("same")
    assert first != second
    assert box.open(first) == box.open(second) == "same"


def test_secret_box_same_key_opens_across_instances() -> None:
    sealed = FernetSecretBox("key-one-0123456789-0123456789").seal("seed")
    assert FernetSecretBox("key-one-0123456789-0123456789").open(sealed) == "seed"


def test_secret_box_refuses_another_key() -> None:
    sealed = FernetSecretBox("key-one-0123456789-0123456789").seal("seed")
    with pytest.raises(ValueError, match="cannot be opened"):
        FernetSecretBox("key-two-0123456789-0123456789").open(sealed)


@pytest.mark.parametrize("sealed", ["", "garbage", "gAAAAA", "é-not-ascii"])
def test_secret_box_refuses_garbage(sealed: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError, the type callers catch
        FernetSecretBox("key-one-0123456789-0123456789").open(sealed)


def test_secret_box_refuses_tampering() -> None:
    box = FernetSecretBox("key-one-0123456789-0123456789")
    raw = bytearray(base64.urlsafe_b64decode(box.seal("seed")))
    raw[-40] ^= 0x01
    with pytest.raises(ValueError, match="cannot be opened"):
        box.open(base64.urlsafe_b64encode(bytes(raw)).decode("ascii"))


# ---------------------------------------------------------------- principal cache


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(cache_module, "time", fake)
    return fake


def principal() -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        role=Role.VET,
        practice_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        mfa_enabled=False,
    )


def test_cache_serves_within_ttl_and_forgets_after(clock: FakeTime) -> None:
    cache = TtlPrincipalCache(ttl_seconds=2.0)
    who = principal()
    assert cache.get(who.session_id) is None
    cache.put(who)
    assert cache.get(who.session_id) == who
    clock.now += 2.0
    assert cache.get(who.session_id) == who
    clock.now += 0.01
    assert cache.get(who.session_id) is None
    # Forgotten for good, even if time went back.
    clock.now -= 1.0
    assert cache.get(who.session_id) is None


def test_cache_put_refreshes_the_entry(clock: FakeTime) -> None:
    cache = TtlPrincipalCache(ttl_seconds=2.0)
    who = principal()
    cache.put(who)
    clock.now += 1.5
    cache.put(who)
    clock.now += 1.5
    assert cache.get(who.session_id) == who


def test_cache_invalidate(clock: FakeTime) -> None:
    cache = TtlPrincipalCache(ttl_seconds=5.0)
    first, second, third = principal(), principal(), principal()
    for who in (first, second, third):
        cache.put(who)
    cache.invalidate([first.session_id, second.session_id, uuid.uuid4()])
    assert cache.get(first.session_id) is None
    assert cache.get(second.session_id) is None
    assert cache.get(third.session_id) == third


def test_a_principal_looked_up_before_a_revocation_is_not_cached_after_it(
    clock: FakeTime,
) -> None:
    cache = TtlPrincipalCache(ttl_seconds=2.0)
    who, other = principal(), principal()
    before = cache.generation  # read, then the database look-up ...
    cache.invalidate([who.session_id])  # ... while the revocation commits and is forgotten
    cache.put(who, looked_up_at=before)  # the look-up's (stale) answer
    assert cache.get(who.session_id) is None
    cache.invalidate([])  # nothing named: nothing heard, the generation stays
    now = cache.generation
    cache.put(other, looked_up_at=now)
    assert cache.get(other.session_id) == other
    for change in (cache.suspend, cache.resume):
        seen = cache.generation
        change()
        cache.put(who, looked_up_at=seen)
        assert cache.get(who.session_id) is None


@pytest.mark.parametrize("ttl", [0, 0.0, -1])
def test_cache_ttl_zero_disables_it(clock: FakeTime, ttl: float) -> None:
    cache = TtlPrincipalCache(ttl_seconds=ttl)
    who = principal()
    cache.put(who)
    assert cache.get(who.session_id) is None


def test_cache_is_bounded(clock: FakeTime) -> None:
    cache = TtlPrincipalCache(ttl_seconds=5.0, max_entries=3)
    everyone = [principal() for _ in range(5)]
    for who in everyone:
        cache.put(who)
    assert [cache.get(w.session_id) for w in everyone[:2]] == [None, None]
    assert [cache.get(w.session_id) for w in everyone[2:]] == everyone[2:]
