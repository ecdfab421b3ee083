"""The composition root: wires adapters into services once, for the app, the worker and tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import procrastinate
import structlog
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.audit_queries import SqlAuditQueries
from vetchart.adapters.db.audit_verify import VerifyReport, verify_audit_chains
from vetchart.adapters.db.engine import create_engine, libpq_conninfo, session_factory
from vetchart.adapters.db.errors import translate_database_error
from vetchart.adapters.db.health import DatabaseReadiness
from vetchart.adapters.db.idempotency import SqlIdempotencyStore
from vetchart.adapters.db.queries import SqlClientQueries, SqlUserQueries
from vetchart.adapters.db.records import SqlRecordQueries
from vetchart.adapters.db.resilience import wait_for_database
from vetchart.adapters.db.uow import SqlAlchemyUnitOfWork
from vetchart.adapters.jobs import (
    WorkerConfig,
    build_job_app,
    job_counts,
    retry_failed,
    run_embedded_worker,
    run_worker,
)
from vetchart.adapters.mail import LoggingMailer, SmtpMailer
from vetchart.adapters.observability import tracing
from vetchart.adapters.observability.tracing import OpenTelemetryMiddleware as TracingMiddleware
from vetchart.adapters.ratelimit import RateLimiter
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.adapters.security.mfa import FernetSecretBox, PyOtpTotp
from vetchart.adapters.security.passwords import Argon2Hasher, zxcvbn_guessability
from vetchart.adapters.security.tokens import JwtTokens
from vetchart.adapters.storage.local import LocalObjectStorage
from vetchart.adapters.storage.s3 import S3ObjectStorage
from vetchart.adapters.storage.sniff import checker_for
from vetchart.adapters.system import SystemClock, Uuid7Ids
from vetchart.config import Settings
from vetchart.domain.errors import DomainError
from vetchart.domain.sessions import SessionPolicy
from vetchart.domain.throttle import LockoutRules
from vetchart.domain.uploads import UploadKind
from vetchart.domain.users import Role
from vetchart.services.audit import AuditService
from vetchart.services.auth import AuthConfig, AuthService
from vetchart.services.demo import DemoData
from vetchart.services.jobs import EventDelivery, Housekeeping
from vetchart.services.notifications import InvitationMail
from vetchart.services.owners import OwnerService
from vetchart.services.pets import PetService
from vetchart.services.ports import Clock, IdGenerator, Mailer, UnitOfWork
from vetchart.services.practices import PracticeService
from vetchart.services.records import MedicalRecordService
from vetchart.services.storage import HeadInspectorFactory, ObjectStorage, SignedUrlVerifier
from vetchart.services.users import UserService

__all__ = [
    "Container",
    "PoolStats",
    "TracingMiddleware",
    "build_container",
    "build_tracer_provider",
    "demo_seeders",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PoolStats:
    size: int
    checked_out: int
    overflow: int
    checked_in: int


def _pool_stats(engine: AsyncEngine) -> PoolStats:
    pool = engine.sync_engine.pool
    return PoolStats(
        size=int(getattr(pool, "size", lambda: 0)()),
        checked_out=int(getattr(pool, "checkedout", lambda: 0)()),
        overflow=int(getattr(pool, "overflow", lambda: 0)()),
        checked_in=int(getattr(pool, "checkedin", lambda: 0)()),
    )


@dataclass
class Container:
    """Everything the outer layers need, built from settings."""

    settings: Settings
    database_url: str
    engine: AsyncEngine
    read_engine: AsyncEngine
    readiness: DatabaseReadiness
    tracer_provider: TracerProvider | None
    clock: Clock
    ids: IdGenerator
    hasher: Argon2Hasher
    rate_limiter: RateLimiter
    idempotency: SqlIdempotencyStore = field(init=False)
    auth: AuthService = field(init=False)
    users: UserService = field(init=False)
    practices: PracticeService = field(init=False)
    owners: OwnerService = field(init=False)
    pets: PetService = field(init=False)
    records: MedicalRecordService = field(init=False)
    client_queries: SqlClientQueries = field(init=False)
    audit: AuditService = field(init=False)
    storage: ObjectStorage = field(init=False)
    # The local store's URL signer (None with S3, which signs its own URLs).
    signed_files: SignedUrlVerifier | None = field(init=False)
    content_checks: HeadInspectorFactory = field(init=False)
    invitation_mail: InvitationMail = field(init=False)
    delivery: EventDelivery = field(init=False)
    housekeeping: Housekeeping = field(init=False)
    translate_error: Callable[[BaseException], DomainError | None] = translate_database_error

    def __post_init__(self) -> None:
        self._sessions = session_factory(self.engine)
        self.idempotency = SqlIdempotencyStore(self.engine)
        settings = self.settings
        self._secret_box = FernetSecretBox(settings.auth.encryption_key.get_secret_value())
        self.storage, self.signed_files = build_storage(settings, self.clock)
        self.content_checks = checker_for
        cache = TtlPrincipalCache(ttl_seconds=settings.auth.session_cache_seconds)
        auth = settings.auth
        tokens = JwtTokens(
            active_secret=auth.jwt_secret.get_secret_value(),
            previous_secrets=[s.get_secret_value() for s in auth.jwt_previous_secrets],
            issuer=auth.jwt_issuer,
            audience=auth.jwt_audience,
            access_ttl=timedelta(seconds=auth.access_token_ttl_seconds),
            mfa_ttl=timedelta(seconds=auth.mfa_token_ttl_seconds),
        )
        self.auth = AuthService(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            hasher=self.hasher,
            tokens=tokens,
            secret_box=self._secret_box,
            totp=PyOtpTotp(issuer=auth.mfa_issuer),
            principal_cache=cache,
            guessability=zxcvbn_guessability,
            config=AuthConfig(
                lockout=LockoutRules(
                    threshold=auth.lockout_threshold,
                    window=timedelta(seconds=auth.lockout_window_seconds),
                    base_lock=timedelta(seconds=auth.lockout_base_seconds),
                    max_lock=timedelta(seconds=auth.lockout_max_seconds),
                ),
                sessions=SessionPolicy(
                    idle_timeout_staff=timedelta(seconds=auth.session_idle_timeout_staff_seconds),
                    idle_timeout_owner=timedelta(seconds=auth.session_idle_timeout_owner_seconds),
                    absolute_lifetime=timedelta(seconds=auth.session_absolute_lifetime_seconds),
                ),
                mfa_required_roles=self.mfa_required_roles,
            ),
        )
        self.client_queries = client_queries = SqlClientQueries(
            self.read_engine, read_retries=settings.database.read_retries
        )
        self.practices = PracticeService(
            uow=self.uow,
            queries=client_queries,
            clock=self.clock,
            ids=self.ids,
            hasher=self.hasher,
            guessability=zxcvbn_guessability,
        )
        self.owners = OwnerService(
            uow=self.uow, queries=client_queries, clock=self.clock, ids=self.ids
        )
        self.pets = PetService(uow=self.uow, queries=client_queries, clock=self.clock, ids=self.ids)
        self.records = MedicalRecordService(
            uow=self.uow,
            queries=SqlRecordQueries(self.read_engine, read_retries=settings.database.read_retries),
            clock=self.clock,
            ids=self.ids,
            finalise_after=timedelta(hours=settings.records.finalise_after_hours),
        )
        self.users = UserService(
            uow=self.uow,
            queries=SqlUserQueries(self.read_engine, read_retries=settings.database.read_retries),
            clock=self.clock,
            ids=self.ids,
            hasher=self.hasher,
            principal_cache=cache,
            guessability=zxcvbn_guessability,
        )

        self.audit = AuditService(
            uow=self.uow,
            queries=SqlAuditQueries(self.read_engine, read_retries=settings.database.read_retries),
        )
        self.invitation_mail = InvitationMail(build_mailer(settings), settings.mail.public_base_url)
        self.delivery = EventDelivery(
            uow=self.uow, clock=self.clock, handlers=[self.invitation_mail.handler()]
        )
        self.housekeeping = Housekeeping(
            uow=self.uow, clock=self.clock, idempotency=self.idempotency
        )

    def upload_limit(self, kind: UploadKind) -> int:
        storage = self.settings.storage
        return {
            UploadKind.VISIT_AUDIO: storage.max_audio_bytes,
            UploadKind.RECORD_ATTACHMENT: storage.max_attachment_bytes,
        }.get(kind, storage.max_kb_document_bytes)

    def job_app(self) -> procrastinate.App:
        """The job queue and worker (procrastinate) over this container's services."""
        return build_job_app(
            libpq_conninfo(self.database_url),
            role=self.settings.database.app_role or None,
            delivery=self.delivery,
            housekeeping=self.housekeeping.run,
            config=self.worker_config,
        )

    async def run_worker(self) -> None:
        """`vetchart worker`: work until SIGINT/SIGTERM."""
        app = self.job_app()
        async with app.open_async():
            await run_worker(app, self.worker_config, in_process=False)

    async def start_embedded_worker(self) -> Callable[[], Awaitable[None]]:
        """A worker inside this (API) process; returns the coroutine that stops it."""
        app = self.job_app()
        task = asyncio.create_task(run_embedded_worker(app, self.worker_config))
        log.info("worker.embedded_started")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("worker.embedded_stopped")

        return stop

    async def job_counts(self) -> dict[tuple[str, str], int]:
        app = self.job_app()
        async with app.open_async():
            return await job_counts(app)

    async def retry_failed_job(self, job_id: int) -> None:
        app = self.job_app()
        async with app.open_async():
            await retry_failed(app, job_id)

    async def verify_audit(self) -> VerifyReport:
        return await verify_audit_chains(self.engine)

    @property
    def worker_config(self) -> WorkerConfig:
        worker = self.settings.worker
        return WorkerConfig(
            concurrency=worker.concurrency,
            max_attempts=worker.max_attempts,
            retry_base_seconds=worker.retry_base_seconds,
            heartbeat_seconds=worker.heartbeat_seconds,
            stalled_after_seconds=worker.stalled_after_seconds,
            stalled_check_seconds=worker.stalled_check_seconds,
        )

    @property
    def mfa_required_roles(self) -> frozenset[Role]:
        return frozenset(Role(name) for name in self.settings.mfa_required_roles)

    def uow(self) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(self._sessions, self.clock, self.ids, self._secret_box)

    def pool_stats(self) -> PoolStats:
        return _pool_stats(self.engine)

    async def aclose(self) -> None:
        if isinstance(self.storage, S3ObjectStorage):
            await self.storage.aclose()
        await self.rate_limiter.aclose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def build_storage(
    settings: Settings, clock: Clock
) -> tuple[ObjectStorage, SignedUrlVerifier | None]:
    """S3 (or compatible) when a bucket is configured, else the local folder, whose signed
    URLs are served by the API (`/api/v1/files/...`) and signed with a key derived from
    VETCHART_ENCRYPTION_KEY."""
    storage = settings.storage
    if storage.s3_bucket:
        secret = storage.s3_secret_access_key
        return (
            S3ObjectStorage(
                storage.s3_bucket,
                endpoint_url=storage.s3_endpoint_url,
                region=storage.s3_region,
                access_key=storage.s3_access_key_id,
                secret_key=secret.get_secret_value() if secret else None,
                connect_timeout=storage.s3_connect_timeout_seconds,
                read_timeout=storage.s3_read_timeout_seconds,
                max_attempts=storage.s3_max_attempts,
                force_path_style=storage.s3_force_path_style,
            ),
            None,
        )
    key = hashlib.sha256(
        b"vetchart-files:" + settings.auth.encryption_key.get_secret_value().encode()
    ).digest()
    local = LocalObjectStorage(settings.files_dir, key, clock)
    return local, local


def build_mailer(settings: Settings) -> Mailer:
    mail = settings.mail
    if mail.smtp_host:
        return SmtpMailer(
            host=mail.smtp_host,
            port=mail.smtp_port,
            sender=mail.mail_from,
            username=mail.smtp_username,
            password=mail.smtp_password.get_secret_value() if mail.smtp_password else None,
            starttls=mail.smtp_starttls,
            timeout_seconds=mail.smtp_timeout_seconds,
        )
    return LoggingMailer(redact=settings.is_production)


def build_tracer_provider(settings: Settings) -> TracerProvider | None:
    return tracing.build_tracer_provider(
        service_name=settings.observability.otel_service_name,
        endpoint=settings.observability.otel_endpoint,
    )


async def build_container(
    settings: Settings,
    *,
    database_url: str,
    tracer_provider: TracerProvider | None = None,
    wait_for_db: bool = True,
) -> Container:
    """Create engines and adapters. ``database_url`` is resolved by the entrypoint
    (``DATABASE_URL``, or the embedded server it started)."""
    engine = create_engine(database_url, settings.database, application_name="vetchart-api")
    read_engine = engine
    if settings.database.read_url:
        read_engine = create_engine(
            settings.database.read_url, settings.database, application_name="vetchart-api-read"
        )
    if tracer_provider is not None:
        tracing.instrument_engine(engine, tracer_provider)
        if read_engine is not engine:
            tracing.instrument_engine(read_engine, tracer_provider)
        tracing.instrument_httpx(tracer_provider)
    if wait_for_db:
        await wait_for_database(engine, timeout_seconds=settings.database.startup_timeout)
    readiness = DatabaseReadiness(engine, read_retries=settings.database.read_retries)
    log.info("container.ready", read_replica=read_engine is not engine)
    auth = settings.auth
    hasher = Argon2Hasher(
        time_cost=auth.argon2_time_cost,
        memory_kib=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
        max_concurrency=auth.hash_concurrency,
    )
    limits = settings.rate_limit
    rate_limiter = RateLimiter(
        redis_url=settings.redis.url,
        limits={
            "signup": limits.signup,
            "login": limits.login,
            "refresh": limits.refresh,
            "password": limits.password,
            "mfa": limits.mfa,
            "default": limits.default,
        },
        enabled=limits.enabled,
    )
    return Container(
        settings=settings,
        database_url=database_url,
        engine=engine,
        read_engine=read_engine,
        readiness=readiness,
        tracer_provider=tracer_provider,
        clock=SystemClock(),
        ids=Uuid7Ids(),
        hasher=hasher,
        rate_limiter=rate_limiter,
    )


def demo_seeders(container: Container) -> list[Callable[[], Awaitable[str]]]:
    """The parts of the demo data set, in dependency order; each returns a summary line."""
    demo = DemoData(
        uow=container.uow,
        clock=container.clock,
        ids=container.ids,
        hasher=container.hasher,
        queries=container.client_queries,
    )
    return [demo.seed_identity, demo.seed_clients, demo.seed_records]
