"""An ``AuthService`` on the in-memory fakes: a fake clock, ids, hasher and database, and
the real pure adapters (JWTs, TOTP, the principal cache, the guessability check). Each
commit's events go to the cache invalidation (services/invalidation.py), as bootstrap
wires it: that is how a revoked session's principal is forgotten."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import pyotp

from tests.fixtures.fakes import FakeHasher, InMemoryDatabase
from vetchart.adapters.cache import MemoryDashboardCache
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.adapters.security.mfa import TOTP_INTERVAL_SECONDS, PyOtpTotp
from vetchart.adapters.security.passwords import zxcvbn_guessability
from vetchart.adapters.security.tokens import JwtTokens
from vetchart.domain.audit import RequestMeta
from vetchart.domain.policy import Principal
from vetchart.domain.sessions import SessionPolicy
from vetchart.domain.throttle import LockoutPolicy, LockoutRules
from vetchart.domain.users import Role, User
from vetchart.services.auth.base import AuthConfig
from vetchart.services.auth.service import AuthService
from vetchart.services.auth.sessions import TokenPair
from vetchart.services.invalidation import CacheInvalidation

PASSWORD = "purple-otter-reads-maps-at-dawn"
NEW_PASSWORD = "glacier-pickle-trumpet-harbor-77"
HOME = RequestMeta(request_id="req-home", client_address="198.51.100.7", user_agent="tests")
AWAY = RequestMeta(request_id="req-away", client_address="192.0.2.44", user_agent="tests")

# Small numbers, so a test reaches every threshold in a few attempts.
PAIR_THRESHOLD = 3
ACCOUNT_THRESHOLD = 5
MFA_ACCOUNT_THRESHOLD = 4
PAIR_LOCK = timedelta(minutes=5)
ACCOUNT_LOCK = timedelta(minutes=15)
KNOWN_FOR = timedelta(days=30)
IDLE_STAFF = timedelta(hours=1)
IDLE_OWNER = timedelta(days=14)


def lockout() -> LockoutPolicy:
    return LockoutPolicy(
        pair=LockoutRules(PAIR_THRESHOLD, timedelta(minutes=3), PAIR_LOCK, timedelta(hours=24)),
        account=LockoutRules(
            ACCOUNT_THRESHOLD, timedelta(minutes=10), ACCOUNT_LOCK, ACCOUNT_LOCK, False
        ),
        mfa_account=LockoutRules(
            MFA_ACCOUNT_THRESHOLD, timedelta(minutes=15), ACCOUNT_LOCK, ACCOUNT_LOCK, False
        ),
        known_address_for=KNOWN_FOR,
    )


@dataclass
class Auth:
    db: InMemoryDatabase = field(default_factory=InMemoryDatabase)
    hasher: FakeHasher = field(default_factory=FakeHasher)
    cache: TtlPrincipalCache = field(default_factory=lambda: TtlPrincipalCache(ttl_seconds=60))
    totp: PyOtpTotp = field(default_factory=lambda: PyOtpTotp(issuer="vetchart-tests"))

    def __post_init__(self) -> None:
        self.invalidation = CacheInvalidation(MemoryDashboardCache(60), self.cache)
        self.db.after_commit = self.invalidation.invalidate
        self.tokens = JwtTokens(
            active_secret="unit-test-secret-that-is-long-enough-for-hs256",
            previous_secrets=[],
            issuer="vetchart",
            audience="vetchart-api",
            access_ttl=timedelta(minutes=15),
            mfa_ttl=timedelta(minutes=5),
        )
        self.service = AuthService(
            uow=self.db.uow,
            clock=self.db.clock,
            ids=self.db.ids,
            hasher=self.hasher,
            tokens=self.tokens,
            secret_box=self.db.secret_box,
            totp=self.totp,
            principal_cache=self.cache,
            guessability=zxcvbn_guessability,
            config=AuthConfig(
                lockout=lockout(),
                sessions=SessionPolicy(IDLE_STAFF, IDLE_OWNER, timedelta(days=30)),
                mfa_required_roles=frozenset(),
                recovery_code_count=3,
            ),
        )

    def advance(self, delta: timedelta) -> None:
        self.db.clock.advance(delta)

    async def add_user(
        self,
        email: str = "casey@example.com",
        role: Role = Role.PET_OWNER,
        practice_id: UUID | None = None,
        *,
        active: bool = True,
    ) -> User:
        now = self.db.clock.now()
        user = User(
            id=self.db.ids.new_id(),
            email=email,
            full_name="Casey Fields",
            role=role,
            practice_id=practice_id,
            is_active=active,
            password_hash=await self.hasher.hash(PASSWORD),
            mfa_enabled=False,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )
        async with self.db.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return user

    async def user(self, user_id: UUID) -> User:
        async with self.db.uow() as uow:
            found = await uow.users.get(user_id)
        assert found is not None
        return found

    async def sign_in(
        self, email: str = "casey@example.com", password: str = PASSWORD, meta: RequestMeta = HOME
    ) -> TokenPair:
        tokens = await self.service.login(email=email, password=password, meta=meta)
        assert isinstance(tokens, TokenPair), tokens
        return tokens

    async def principal(self, tokens: TokenPair) -> Principal:
        return await self.service.authenticate(tokens.access_token)

    def code(self, secret: str, steps_ahead: int = 0) -> str:
        """The TOTP code of ``secret`` at the fake clock's time (or some steps later)."""
        step = int(self.db.clock.now().timestamp()) // TOTP_INTERVAL_SECONDS + steps_ahead
        return pyotp.TOTP(secret, interval=TOTP_INTERVAL_SECONDS).generate_otp(step)

    def actions(self) -> list[str]:
        return self.db.actions()

    def details(self, action: str) -> list[dict[str, object]]:
        return [row.entry.details for row in self.db.audit if row.entry.action == action]

    async def throttle(self, key: str) -> object:
        async with self.db.uow() as uow:
            return await uow.throttles.peek(key)
