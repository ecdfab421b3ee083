"""The composition root: wires adapters into services once, for the app, the worker and tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import procrastinate
import structlog
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.ai.breaker import CircuitBreakers, circuit_state_collector
from vetchart.adapters.ai.wiring import AiAdapters, build_ai_adapters
from vetchart.adapters.cache import MemoryDashboardCache, RedisDashboardCache
from vetchart.adapters.db.audit_queries import SqlAuditQueries
from vetchart.adapters.db.audit_verify import (
    VerifyReport,
    read_checkpoint,
    verify_audit_chains,
)
from vetchart.adapters.db.audited_reads import AuditedReader
from vetchart.adapters.db.engine import (
    app_login_url,
    create_engine,
    libpq_conninfo,
    session_factory,
)
from vetchart.adapters.db.errors import translate_database_error
from vetchart.adapters.db.health import DatabaseReadiness
from vetchart.adapters.db.idempotency import SqlIdempotencyStore
from vetchart.adapters.db.kb import SqlKbQueries
from vetchart.adapters.db.pg import PgPool
from vetchart.adapters.db.queries import PgClientReads, SqlClientQueries, SqlUserQueries
from vetchart.adapters.db.records import PgRecordReads, SqlRecordQueries
from vetchart.adapters.db.resilience import wait_for_database
from vetchart.adapters.db.safety import StartupSafety
from vetchart.adapters.db.schedule import PgScheduleReads, SqlScheduleQueries
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
from vetchart.adapters.security.passwords import (
    Argon2Hasher,
    hash_pool_collector,
    zxcvbn_guessability,
)
from vetchart.adapters.security.tokens import JwtTokens
from vetchart.adapters.storage.local import LocalObjectStorage
from vetchart.adapters.storage.s3 import S3ObjectStorage
from vetchart.adapters.storage.sniff import checker_for
from vetchart.adapters.system import SystemClock, Uuid7Ids
from vetchart.adapters.text_extract import DocumentTextExtractor
from vetchart.config import AuthSettings, ConfigurationError, Settings
from vetchart.domain.audit import AuditKey, Checkpoint
from vetchart.domain.errors import DomainError
from vetchart.domain.kb.budget import IngestBudget
from vetchart.domain.sessions import SessionPolicy
from vetchart.domain.throttle import LockoutPolicy, LockoutRules
from vetchart.domain.uploads import UploadKind
from vetchart.domain.users import Role
from vetchart.services.appointments import AppointmentService, DashboardService
from vetchart.services.audit import AuditService
from vetchart.services.auth.base import AuthConfig
from vetchart.services.auth.service import AuthService
from vetchart.services.demo import DemoData
from vetchart.services.demo_schedule import DemoSchedule
from vetchart.services.jobs import EventDelivery, Housekeeping
from vetchart.services.kb import ChunkingRules, KbDocumentService
from vetchart.services.kb_answers import KbAnswerService, RetrievalRules
from vetchart.services.notifications import DashboardInvalidation, InvitationMail
from vetchart.services.owners import OwnerService
from vetchart.services.pets import PetService
from vetchart.services.ports.outbox import Mailer
from vetchart.services.ports.schedule import DashboardCache
from vetchart.services.ports.storage import HeadInspectorFactory, ObjectStorage, SignedUrlVerifier
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork
from vetchart.services.practices import PracticeService
from vetchart.services.records import MedicalRecordService
from vetchart.services.summaries import VisitSummaryService
from vetchart.services.users import UserService
from vetchart.services.visits import UploadLimits, VisitService

__all__ = [
    "Container",
    "PoolStats",
    "TracingMiddleware",
    "build_container",
    "build_tracer_provider",
    "circuit_state_collector",
    "demo_seeders",
    "hash_pool_collector",
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


def lockout_policy(auth: AuthSettings) -> LockoutPolicy:
    """The sign-in throttles of these settings (docs/auth.md)."""
    account_lock = timedelta(seconds=auth.lockout_account_lock_seconds)
    return LockoutPolicy(
        pair=LockoutRules(
            threshold=auth.lockout_threshold,
            decay=timedelta(seconds=auth.lockout_decay_seconds),
            base_lock=timedelta(seconds=auth.lockout_base_seconds),
            max_lock=timedelta(seconds=auth.lockout_max_seconds),
        ),
        account=LockoutRules(
            threshold=auth.lockout_account_threshold,
            decay=timedelta(seconds=auth.lockout_account_decay_seconds),
            base_lock=account_lock,
            max_lock=account_lock,
            empty_on_lock=False,
        ),
        mfa_account=LockoutRules(
            threshold=auth.lockout_mfa_account_threshold,
            decay=timedelta(seconds=auth.lockout_mfa_account_decay_seconds),
            base_lock=account_lock,
            max_lock=account_lock,
            empty_on_lock=False,
        ),
        known_address_for=timedelta(days=auth.lockout_known_address_days),
    )


@dataclass
class Container:
    """Everything the outer layers need, built from settings."""

    settings: Settings
    database_url: str
    engine: AsyncEngine
    read_engine: AsyncEngine
    # The read side's fast path (plain asyncpg, on the primary): hot reads and the audit
    # rows of reads (adapters/db/pg.py).
    fast_pool: PgPool
    # Its plain reads (no audit row to write): on the replica when READ_DATABASE_URL is
    # set, else the same pool.
    fast_read_pool: PgPool
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
    appointments: AppointmentService = field(init=False)
    dashboard: DashboardService = field(init=False)
    visits: VisitService = field(init=False)
    summaries: VisitSummaryService = field(init=False)
    dashboard_cache: DashboardCache = field(init=False)
    schedule_queries: SqlScheduleQueries = field(init=False)
    storage: ObjectStorage = field(init=False)
    # The local store's URL signer (None with S3, which signs its own URLs).
    signed_files: SignedUrlVerifier | None = field(init=False)
    content_checks: HeadInspectorFactory = field(init=False)
    invitation_mail: InvitationMail = field(init=False)
    delivery: EventDelivery = field(init=False)
    housekeeping: Housekeeping = field(init=False)
    # Outside AI services (circuit breakers, adapters) and the knowledge base.
    breakers: CircuitBreakers = field(init=False)
    ai: AiAdapters = field(init=False)
    kb_documents: KbDocumentService = field(init=False)
    kb_answers: KbAnswerService = field(init=False)
    translate_error: Callable[[BaseException], DomainError | None] = translate_database_error

    def __post_init__(self) -> None:
        self._sessions = session_factory(self.engine)
        self.idempotency = SqlIdempotencyStore(self.engine)
        settings = self.settings
        self._secret_box = FernetSecretBox(settings.auth.encryption_key.get_secret_value())
        self.audit_key = AuditKey(settings.audit.key.get_secret_value().encode("utf-8"))
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
                lockout=lockout_policy(auth),
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
        # Every audited read of the fast path goes through the one reader (on the primary).
        audited_reader = AuditedReader(self.fast_pool, self.clock, self.ids, self.audit_key)
        client_reads = PgClientReads(audited_reader)
        self.owners = OwnerService(
            uow=self.uow,
            queries=client_queries,
            reads=client_reads,
            clock=self.clock,
            ids=self.ids,
        )
        self.pets = PetService(
            uow=self.uow,
            queries=client_queries,
            reads=client_reads,
            clock=self.clock,
            ids=self.ids,
        )
        self.records = MedicalRecordService(
            uow=self.uow,
            queries=SqlRecordQueries(self.read_engine, read_retries=settings.database.read_retries),
            reads=PgRecordReads(
                audited_reader,
                finalise_after=timedelta(hours=settings.records.finalise_after_hours),
            ),
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
        self.dashboard_cache = build_dashboard_cache(settings)
        self.schedule_queries = schedule = SqlScheduleQueries(
            self.read_engine, read_retries=settings.database.read_retries
        )
        schedule_reads = PgScheduleReads(self.fast_read_pool, audited_reader)
        self.appointments = AppointmentService(
            uow=self.uow,
            queries=schedule,
            reads=schedule_reads,
            clock=self.clock,
            ids=self.ids,
            cache=self.dashboard_cache,
        )
        self.dashboard = DashboardService(
            uow=self.uow,
            queries=schedule,
            reads=schedule_reads,
            clock=self.clock,
            cache=self.dashboard_cache,
        )
        self.visits = VisitService(
            uow=self.uow,
            queries=schedule,
            clock=self.clock,
            ids=self.ids,
            storage=self.storage,
            inspectors=self.content_checks,
            limits=UploadLimits(
                audio_bytes=settings.storage.max_audio_bytes,
                attachment_bytes=settings.storage.max_attachment_bytes,
                signed_url_seconds=settings.storage.signed_url_seconds,
            ),
            cache=self.dashboard_cache,
        )
        self._build_knowledge_base()
        self.summaries = VisitSummaryService(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            summarizer=self.ai.summarizer,
            fallback=self.ai.summary_fallback,
        )
        self.invitation_mail = InvitationMail(build_mailer(settings), settings.mail.public_base_url)
        self.delivery = EventDelivery(
            uow=self.uow,
            clock=self.clock,
            handlers=[
                self.invitation_mail.handler(),
                DashboardInvalidation(self.dashboard_cache).handler(),
                self.summaries.handler(),
                *self.kb_documents.handlers(),
            ],
        )
        self.housekeeping = Housekeeping(
            uow=self.uow,
            clock=self.clock,
            idempotency=self.idempotency,
            # A throttle key outlives what it remembers: the known-address records (their
            # days), and a lock's level, which doubles the next lock (twice the longest).
            throttle_retention=max(
                timedelta(days=settings.auth.lockout_known_address_days + 1),
                timedelta(seconds=2 * settings.auth.lockout_max_seconds),
            ),
            sweeps={"orphaned_objects": self.visits.sweep_orphans},
        )

    def upload_limit(self, kind: UploadKind) -> int:
        storage = self.settings.storage
        return {
            UploadKind.VISIT_AUDIO: storage.max_audio_bytes,
            UploadKind.RECORD_ATTACHMENT: storage.max_attachment_bytes,
        }.get(kind, storage.max_kb_document_bytes)

    def _build_knowledge_base(self) -> None:
        settings = self.settings
        self.breakers = CircuitBreakers()
        self.ai = build_ai_adapters(settings.ai, self.breakers)
        kb_queries = SqlKbQueries(self.read_engine, read_retries=settings.database.read_retries)
        budget = IngestBudget(
            max_extracted_chars=settings.kb.max_extracted_chars,
            max_pages=settings.kb.max_pages,
            max_chunks=settings.kb.max_chunks,
            max_seconds=settings.kb.max_ingest_seconds,
        )
        self.kb_documents = KbDocumentService(
            uow=self.uow,
            queries=kb_queries,
            clock=self.clock,
            ids=self.ids,
            storage=self.storage,
            inspect_head=checker_for(UploadKind.KB_DOCUMENT),
            max_bytes=self.upload_limit(UploadKind.KB_DOCUMENT),
            extractor=DocumentTextExtractor(budget),
            chunking=ChunkingRules(
                max_chars=settings.kb.chunk_chars, overlap_chars=settings.kb.chunk_overlap_chars
            ),
            embedder=self.ai.ingest_embedder,
            vector_index=self.ai.vector_index,
            budget=budget,
        )
        self.kb_answers = KbAnswerService(
            queries=kb_queries,
            answerer=self.ai.answerer,
            fallback=self.ai.fallback,
            rules=RetrievalRules(
                candidates=settings.kb.candidates,
                rrf_k=settings.kb.rrf_k,
                excerpt_chars=settings.kb.excerpt_chars,
            ),
            embedder=self.ai.query_embedder,
            vector_index=self.ai.vector_index,
        )

    def job_app(self) -> procrastinate.App:
        """The job queue and worker (procrastinate) over this container's services."""
        return build_job_app(
            libpq_conninfo(self.database_url),
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

    async def verify_audit(self, against: Sequence[Checkpoint] = ()) -> VerifyReport:
        return await verify_audit_chains(self.engine, self.audit_key, against=against)

    async def audit_checkpoint(self) -> Checkpoint:
        return await read_checkpoint(self.engine)

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

    @cached_property
    def mfa_required_roles(self) -> frozenset[Role]:
        return frozenset(Role(name) for name in self.settings.mfa_required_roles)

    def uow(self) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(
            self._sessions, self.clock, self.ids, self._secret_box, self.audit_key
        )

    def pool_stats(self) -> PoolStats:
        return _pool_stats(self.engine)

    async def aclose(self) -> None:
        if isinstance(self.storage, S3ObjectStorage):
            await self.storage.aclose()
        if isinstance(self.dashboard_cache, RedisDashboardCache):
            await self.dashboard_cache.aclose()
        await self.rate_limiter.aclose()
        await self.ai.aclose()
        await self.hasher.aclose()
        await self.fast_pool.aclose()
        if self.fast_read_pool is not self.fast_pool:
            await self.fast_read_pool.aclose()
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


def build_dashboard_cache(settings: Settings) -> DashboardCache:
    ttl = settings.api.dashboard_cache_seconds
    if settings.redis.url:
        return RedisDashboardCache(settings.redis.url, ttl)
    return MemoryDashboardCache(ttl)


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
    (``DATABASE_URL``, or the embedded server it started); every connection logs in as
    the application role there (``app_login_url``: least privilege)."""
    database_url = app_login_url(database_url, settings.database)
    read_url = (
        app_login_url(settings.database.read_url, settings.database)
        if settings.database.read_url
        else None
    )
    engine = create_engine(database_url, settings.database, application_name="vetchart-api")
    read_engine = engine
    if read_url:
        read_engine = create_engine(
            read_url, settings.database, application_name="vetchart-api-read"
        )
    if tracer_provider is not None:
        tracing.instrument_engine(engine, tracer_provider)
        if read_engine is not engine:
            tracing.instrument_engine(read_engine, tracer_provider)
        tracing.instrument_httpx(tracer_provider)
    safety = StartupSafety(
        engine,
        audit_key=AuditKey(settings.audit.key.get_secret_value().encode("utf-8")),
        production=settings.is_production,
    )
    if wait_for_db:
        try:
            await wait_for_database(engine, timeout_seconds=settings.database.startup_timeout)
        except Exception as error:
            # Serve anyway: /health/live answers 200 and /health/ready 503 naming the
            # database until it answers; the pools connect when it does.
            log.warning("database.unreachable_at_start", error=type(error).__name__)
        else:
            try:
                problems = await safety.check()
            except ConfigurationError:
                raise
            except Exception as error:  # it went away again: readiness checks later
                log.warning("startup.safety_check_deferred", error=type(error).__name__)
            else:
                if problems:
                    raise ConfigurationError("refusing to start: " + "; ".join(problems))
    readiness = DatabaseReadiness(
        engine, read_retries=settings.database.read_retries, safety=safety
    )
    log.info("container.ready", read_replica=read_engine is not engine)
    auth = settings.auth
    # The pool starts with the first hash and stops in Container.aclose.
    hasher = Argon2Hasher(
        time_cost=auth.argon2_time_cost,
        memory_kib=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
        max_concurrency=auth.hash_concurrency,
        workers=auth.hash_workers,
        executor=auth.hash_executor,
        nice=auth.hash_worker_nice,
        queue_limit=auth.hash_queue_limit,
        queue_timeout_seconds=auth.hash_queue_timeout_seconds,
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
    # On the primary: an audited read writes its audit row in the same transaction.
    fast_pool = PgPool(
        database_url,
        settings.database,
        application_name="vetchart-api-fast",
        synchronous_commit=settings.audit.reads_durable,
    )
    fast_read_pool = fast_pool
    if read_url:
        fast_read_pool = PgPool(
            read_url, settings.database, application_name="vetchart-api-fast-read"
        )
    return Container(
        settings=settings,
        database_url=database_url,
        engine=engine,
        read_engine=read_engine,
        fast_pool=fast_pool,
        fast_read_pool=fast_read_pool,
        readiness=readiness,
        tracer_provider=tracer_provider,
        clock=SystemClock(),
        ids=Uuid7Ids(),
        hasher=hasher,
        rate_limiter=rate_limiter,
    )


def demo_seeders(
    container: Container, *, knowledge_base: bool = False, schedule: bool = False
) -> list[Callable[[], Awaitable[str]]]:
    """The parts of the demo data set, in dependency order; each returns a summary line.
    ``knowledge_base`` adds the demo reference documents, ingested at once (`vetchart demo
    seed` asks for them; the tests' demo data leaves them out). ``schedule`` adds today's
    appointments and visits with recordings, likewise."""
    demo = DemoData(
        uow=container.uow,
        clock=container.clock,
        ids=container.ids,
        hasher=container.hasher,
        queries=container.client_queries,
    )
    seeders: list[Callable[[], Awaitable[str]]] = [
        demo.seed_identity,
        demo.seed_clients,
        demo.seed_records,
    ]
    if schedule:
        seeders.append(
            DemoSchedule(
                uow=container.uow,
                clock=container.clock,
                ids=container.ids,
                clients=container.client_queries,
                schedule=container.schedule_queries,
                storage=container.storage,
                inspectors=container.content_checks,
            ).seed
        )
    if knowledge_base:
        seeders.append(container.kb_documents.seed_demo)
    return seeders
