"""The services, wired once over the adapters (bootstrap/adapters.py) for the app, the
worker (bootstrap/worker.py) and tests: the ``Container``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TypedDict

import structlog
from opentelemetry.sdk.trace import TracerProvider

from vetchart.adapters.ai.breaker import CircuitBreakers
from vetchart.adapters.ai.speech_wiring import SpeechAdapters, build_transcriber
from vetchart.adapters.ai.wiring import AiAdapters, build_ai_adapters
from vetchart.adapters.cache import RedisDashboardCache
from vetchart.adapters.db.audit_queries import SqlAuditQueries
from vetchart.adapters.db.audit_verify import (
    VerifyReport,
    read_checkpoint,
    verify_audit_chains,
)
from vetchart.adapters.db.audited_reads import AuditedReader
from vetchart.adapters.db.engine import session_factory
from vetchart.adapters.db.errors import translate_database_error
from vetchart.adapters.db.idempotency import SqlIdempotencyStore
from vetchart.adapters.db.kb import SqlKbQueries
from vetchart.adapters.db.messaging import SqlMessageQueries
from vetchart.adapters.db.owner_export import SqlOwnerExport
from vetchart.adapters.db.queries import PgClientReads, SqlClientQueries, SqlUserQueries
from vetchart.adapters.db.records import PgRecordReads, SqlRecordQueries
from vetchart.adapters.db.schedule import PgScheduleReads, SqlScheduleQueries
from vetchart.adapters.db.uow import SqlAlchemyUnitOfWork
from vetchart.adapters.ratelimit import RateLimiter
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.adapters.security.mfa import FernetSecretBox, PyOtpTotp
from vetchart.adapters.security.passwords import Argon2Hasher, zxcvbn_guessability
from vetchart.adapters.security.revocation import RedisSessionBroadcast
from vetchart.adapters.storage.s3 import S3ObjectStorage
from vetchart.adapters.storage.sniff import checker_for
from vetchart.adapters.system import SystemClock, Uuid7Ids
from vetchart.adapters.text_extract import DocumentTextExtractor
from vetchart.adapters.webhooks import HttpWebhookSender
from vetchart.bootstrap.adapters import (
    Database,
    PoolStats,
    build_dashboard_cache,
    build_hasher,
    build_mailer,
    build_notifiers,
    build_rate_limiter,
    build_storage,
    build_tokens,
    open_database,
    pool_stats,
)
from vetchart.bootstrap.worker import Worker, build_worker
from vetchart.config import AuthSettings, Settings
from vetchart.domain.audit import AuditKey, Checkpoint
from vetchart.domain.errors import DomainError
from vetchart.domain.kb.budget import IngestBudget
from vetchart.domain.sessions import SessionPolicy
from vetchart.domain.throttle import LockoutPolicy, LockoutRules
from vetchart.domain.uploads import UploadKind
from vetchart.domain.users import Role
from vetchart.services.api_keys import ApiKeyPolicy, ApiKeyService
from vetchart.services.appointments import AppointmentService, DashboardService
from vetchart.services.audit import AuditService
from vetchart.services.auth.base import AuthConfig
from vetchart.services.auth.service import AuthService
from vetchart.services.charts import ChartService
from vetchart.services.demo import DemoData
from vetchart.services.demo_lifecycle import DemoLifecycle
from vetchart.services.demo_messaging import DemoMessaging
from vetchart.services.demo_schedule import DemoSchedule
from vetchart.services.demo_scheduling import DemoScheduling
from vetchart.services.demo_transcription import DemoTranscription
from vetchart.services.files import FileService, UploadSizeLimits
from vetchart.services.health import HealthService
from vetchart.services.invalidation import CacheInvalidation
from vetchart.services.invitations import InvitationService
from vetchart.services.jobs import EventDelivery, Housekeeping
from vetchart.services.kb import ChunkingRules, KbDocumentService
from vetchart.services.kb_answers import KbAnswerService, RetrievalRules
from vetchart.services.messages import ClientMessages, ReminderScan
from vetchart.services.messaging import MessagingService
from vetchart.services.notifications import InvitationMail
from vetchart.services.owner_lifecycle import OwnerLifecycleService
from vetchart.services.owners import OwnerService
from vetchart.services.pets import PetService
from vetchart.services.ports.clients import ClientQueries
from vetchart.services.ports.identity import PrincipalCache
from vetchart.services.ports.records import RecordQueries
from vetchart.services.ports.schedule import DashboardCache, ScheduleQueries
from vetchart.services.ports.storage import HeadInspectorFactory, ObjectStorage, SignedUrlVerifier
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from vetchart.services.practices import PracticeService
from vetchart.services.records import MedicalRecordService
from vetchart.services.scheduling import SchedulingService
from vetchart.services.summaries import VisitSummaryService
from vetchart.services.transcription import VisitTranscriptionService
from vetchart.services.users import UserService
from vetchart.services.visits import UploadLimits, VisitService
from vetchart.services.webhooks import WebhookDispatcher, WebhookPolicy, WebhookService

log = structlog.get_logger(__name__)


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
class Container(Database):
    """Everything the outer layers need, built from settings: the database's engines and
    pools (the fields of ``Database``) and the services wired over them. Routes never
    receive it: each takes the services it uses (api/dependencies.py)."""

    settings: Settings
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
    scheduling: SchedulingService = field(init=False)
    summaries: VisitSummaryService = field(init=False)
    charts: ChartService = field(init=False)
    record_queries: RecordQueries = field(init=False)
    transcription: VisitTranscriptionService = field(init=False)
    speech: SpeechAdapters = field(init=False)
    dashboard_cache: DashboardCache = field(init=False)
    # Who is signed in, for a few seconds (adapters/security/cache.py).
    principal_cache: PrincipalCache = field(init=False)
    # With Redis: revocations published to, and heard from, every other process
    # (adapters/security/revocation.py); listening from ``start()``.
    session_broadcast: RedisSessionBroadcast | None = field(init=False)
    # The one invalidation path of the caches (dashboards, principals): the outbox events
    # of each commit (services/invalidation.py), in-process after the commit and again at
    # delivery.
    invalidation: CacheInvalidation = field(init=False)
    schedule_queries: SqlScheduleQueries = field(init=False)
    storage: ObjectStorage = field(init=False)
    # The local store's URL signer (None with S3, which signs its own URLs).
    signed_files: SignedUrlVerifier | None = field(init=False)
    content_checks: HeadInspectorFactory = field(init=False)
    upload_limits: UploadSizeLimits = field(init=False)
    files: FileService = field(init=False)
    health: HealthService = field(init=False)
    invitation_mail: InvitationMail = field(init=False)
    # Client messages (docs/messaging.md): the API's use cases, the outbox's message
    # handlers (one per channel) and the periodic reminder scan.
    messaging: MessagingService = field(init=False)
    messaging_queries: SqlMessageQueries = field(init=False)
    client_messages: ClientMessages = field(init=False)
    reminder_scan: ReminderScan = field(init=False)
    worker: Worker = field(init=False)
    # Outside AI services (circuit breakers, adapters) and the knowledge base.
    breakers: CircuitBreakers = field(init=False)
    ai: AiAdapters = field(init=False)
    kb_documents: KbDocumentService = field(init=False)
    kb_answers: KbAnswerService = field(init=False)
    # Integrations' API keys (docs/auth.md): managed by practice admins, authenticated
    # by api/security.py.
    api_keys: ApiKeyService = field(init=False)
    translate_error: Callable[[BaseException], DomainError | None] = translate_database_error

    def __post_init__(self) -> None:
        self._sessions = session_factory(self.engine)
        self.idempotency = SqlIdempotencyStore(self.engine)
        settings = self.settings
        self._secret_box = FernetSecretBox(settings.auth.encryption_key.get_secret_value())
        self.audit_key = AuditKey(settings.audit.key.get_secret_value().encode("utf-8"))
        # Before the first unit of work: each commit hands it its outbox events.
        self.dashboard_cache = build_dashboard_cache(settings)
        principal_cache = TtlPrincipalCache(ttl_seconds=settings.auth.session_cache_seconds)
        self.principal_cache = principal_cache
        self.session_broadcast = (
            RedisSessionBroadcast(
                settings.redis.url, channel=settings.redis.key("sessions"), cache=principal_cache
            )
            if settings.redis.url
            else None
        )
        self.invalidation = CacheInvalidation(
            self.dashboard_cache, self.principal_cache, self.session_broadcast
        )
        self.storage, self.signed_files = build_storage(settings, self.clock)
        self.content_checks = checker_for
        self.upload_limits = UploadSizeLimits(
            audio_bytes=settings.storage.max_audio_bytes,
            attachment_bytes=settings.storage.max_attachment_bytes,
            kb_document_bytes=settings.storage.max_kb_document_bytes,
        )
        self.files = FileService(
            storage=self.storage,
            verifier=self.signed_files,
            inspectors=self.content_checks,
            limits=self.upload_limits,
        )
        auth = settings.auth
        self.auth = AuthService(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            hasher=self.hasher,
            tokens=build_tokens(auth),
            secret_box=self._secret_box,
            totp=PyOtpTotp(issuer=auth.mfa_issuer),
            principal_cache=self.principal_cache,
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
        record_queries = SqlRecordQueries(
            self.read_engine, read_retries=settings.database.read_retries
        )
        self.records = MedicalRecordService(
            uow=self.uow,
            queries=record_queries,
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
            guessability=zxcvbn_guessability,
        )
        # Invitation management and the owner lifecycle (docs/owner-lifecycle.md).
        self.invitations = InvitationService(
            uow=self.uow,
            queries=SqlUserQueries(self.read_engine, read_retries=settings.database.read_retries),
            clock=self.clock,
        )
        self.owner_lifecycle = OwnerLifecycleService(
            uow=self.uow,
            exports=SqlOwnerExport(self.read_engine),
            clock=self.clock,
        )

        self.audit = AuditService(
            uow=self.uow,
            queries=SqlAuditQueries(self.read_engine, read_retries=settings.database.read_retries),
        )
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
        )
        self.dashboard = DashboardService(
            uow=self.uow,
            queries=schedule,
            reads=schedule_reads,
            clock=self.clock,
            cache=self.dashboard_cache,
        )
        self.scheduling = SchedulingService(
            uow=self.uow, queries=schedule, clock=self.clock, ids=self.ids
        )
        self.charts = ChartService(uow=self.uow, records=record_queries, schedule=schedule)
        self.record_queries = record_queries
        self.breakers = CircuitBreakers()
        self.speech = build_transcriber(settings.stt, settings.ai, self.breakers)
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
            transcription_configured=self.speech.transcriber.configured,
        )
        self.transcription = VisitTranscriptionService(
            uow=self.uow,
            clock=self.clock,
            storage=self.storage,
            transcriber=self.speech.transcriber,
            language=settings.stt.language,
            max_audio_bytes=settings.stt.max_audio_bytes,
            job_attempts=settings.stt.job_attempts,
        )
        self._build_knowledge_base()
        self.health = HealthService(probe=self.readiness, circuits=self.breakers)
        self.summaries = VisitSummaryService(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            summarizer=self.ai.summarizer,
            fallback=self.ai.summary_fallback,
        )
        mailer = build_mailer(settings)
        self.invitation_mail = InvitationMail(mailer, settings.mail.public_base_url)
        self.messaging_queries = SqlMessageQueries(
            self.read_engine, read_retries=settings.database.read_retries
        )
        self.messaging = MessagingService(
            uow=self.uow,
            queries=self.messaging_queries,
            clock=self.clock,
            ids=self.ids,
        )
        self.client_messages = ClientMessages(
            notifiers=build_notifiers(settings, mailer), clock=self.clock, ids=self.ids
        )
        self.reminder_scan = ReminderScan(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            appointment_lead=timedelta(hours=settings.messaging.appointment_reminder_hours),
        )
        hooks = settings.webhooks
        self.webhooks = WebhookService(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            policy=WebhookPolicy(
                allow_private_targets=hooks.allow_private_targets, max_tries=hooks.max_tries
            ),
        )
        self.api_keys = ApiKeyService(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            principal_cache=self.principal_cache,
            policy=ApiKeyPolicy(
                last_used_interval=timedelta(seconds=settings.api_keys.last_used_seconds)
            ),
        )
        self.webhook_sender = HttpWebhookSender(
            timeout_seconds=hooks.timeout_seconds, allow_private=hooks.allow_private_targets
        )
        self.webhook_dispatcher = WebhookDispatcher(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            sender=self.webhook_sender,
            max_tries=hooks.max_tries,
        )
        self.worker = build_worker(
            settings,
            database_url=self.database_url,
            uow=self.uow,
            clock=self.clock,
            idempotency=self.idempotency,
            handlers=[
                self.invitation_mail.handler(),
                self.invalidation.handler(),
                self.invalidation.sessions_handler(),
                self.summaries.handler(),
                self.transcription.handler(),
                *self.kb_documents.handlers(),
                *self.client_messages.handlers(),
                self.webhook_dispatcher.handler(),
            ],
            sweeps={"orphaned_objects": self.visits.sweep_orphans},
            reminders=self.reminder_scan.run,
            webhooks=self.webhook_dispatcher,
        )

    @property
    def delivery(self) -> EventDelivery:
        return self.worker.delivery

    @property
    def housekeeping(self) -> Housekeeping:
        return self.worker.housekeeping

    def _build_knowledge_base(self) -> None:
        settings = self.settings
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
            max_bytes=self.upload_limits.for_kind(UploadKind.KB_DOCUMENT),
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

    async def verify_audit(self, against: Sequence[Checkpoint] = ()) -> VerifyReport:
        return await verify_audit_chains(self.engine, self.audit_key, against=against)

    async def audit_checkpoint(self) -> Checkpoint:
        return await read_checkpoint(self.engine)

    @cached_property
    def mfa_required_roles(self) -> frozenset[Role]:
        return frozenset(Role(name) for name in self.settings.mfa_required_roles)

    def uow(self) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(
            self._sessions,
            self.clock,
            self.ids,
            self._secret_box,
            self.audit_key,
            after_commit=self.invalidation.invalidate,
        )

    def pool_stats(self) -> PoolStats:
        return pool_stats(self.engine)

    def start(self) -> None:
        """What a long-running process (the API, the worker) runs in the background: the
        session broadcast's listener. Until it is subscribed, sessions are read from the
        database on every request."""
        if self.session_broadcast is not None:
            self.session_broadcast.start()

    async def aclose(self) -> None:
        if self.session_broadcast is not None:
            await self.session_broadcast.aclose()
        if isinstance(self.storage, S3ObjectStorage):
            await self.storage.aclose()
        if isinstance(self.dashboard_cache, RedisDashboardCache):
            await self.dashboard_cache.aclose()
        await self.rate_limiter.aclose()
        await self.webhook_sender.aclose()
        await self.ai.aclose()
        await self.speech.aclose()
        await self.hasher.aclose()
        await self.fast_pool.aclose()
        if self.fast_read_pool is not self.fast_pool:
            await self.fast_read_pool.aclose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


async def build_container(
    settings: Settings,
    *,
    database_url: str,
    tracer_provider: TracerProvider | None = None,
    wait_for_db: bool = True,
) -> Container:
    """Open the database (bootstrap/adapters.py), build the adapters and wire the services."""
    database = await open_database(
        settings,
        database_url=database_url,
        tracer_provider=tracer_provider,
        wait_for_db=wait_for_db,
    )
    return Container(
        **vars(database),
        settings=settings,
        tracer_provider=tracer_provider,
        clock=SystemClock(),
        ids=Uuid7Ids(),
        hasher=build_hasher(settings.auth),
        rate_limiter=build_rate_limiter(settings),
    )


class _DemoClients(TypedDict):
    """What every demo seeder of client data is given."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    clients: ClientQueries


class _DemoMedia(_DemoClients):
    """What the demo seeders of visits with stored recordings are given besides."""

    schedule: ScheduleQueries
    storage: ObjectStorage
    inspectors: HeadInspectorFactory


def demo_seeders(
    container: Container,
    *,
    knowledge_base: bool = False,
    schedule: bool = False,
    lifecycle: bool = False,
    messaging: bool = False,
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
        clients=container.client_queries,
    )
    seeders: list[Callable[[], Awaitable[str]]] = [
        demo.seed_identity,
        demo.seed_clients,
        demo.seed_records,
    ]
    clients = _DemoClients(
        uow=container.uow,
        clock=container.clock,
        ids=container.ids,
        clients=container.client_queries,
    )
    if messaging:  # before the schedule: its bookings then message the demo owner
        seeders.append(
            DemoMessaging(
                **clients,
                messages=container.messaging_queries,
                records=container.record_queries,
                scan=container.reminder_scan.run,
            ).seed
        )
    if schedule:
        media = _DemoMedia(
            **clients,
            schedule=container.schedule_queries,
            storage=container.storage,
            inspectors=container.content_checks,
        )
        seeders.append(DemoSchedule(**media).seed)
        seeders.append(DemoScheduling(**clients).seed)
        seeders.append(
            DemoTranscription(**media, configured=container.speech.transcriber.configured).seed
        )
    if knowledge_base:
        seeders.append(container.kb_documents.seed_demo)
    if lifecycle:  # invitations to manage, a deactivated and an erased client
        seeders.append(
            DemoLifecycle(uow=container.uow, clock=container.clock, ids=container.ids).seed
        )
    return seeders
