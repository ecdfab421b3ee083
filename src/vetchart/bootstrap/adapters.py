"""The adapters, built from settings: engines and pools, storage, caches, mail, tokens,
password hashing, rate limits, tracing. Nothing here wires a service (bootstrap/services.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import structlog
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.cache import MemoryDashboardCache, RedisDashboardCache
from vetchart.adapters.db.engine import app_login_url, create_engine
from vetchart.adapters.db.health import DatabaseReadiness
from vetchart.adapters.db.pg import PgPool
from vetchart.adapters.db.resilience import wait_for_database
from vetchart.adapters.db.safety import StartupSafety
from vetchart.adapters.mail import LoggingMailer, SmtpMailer
from vetchart.adapters.notifications import EmailChannel, LocalSms, TwilioSms
from vetchart.adapters.observability import tracing
from vetchart.adapters.ratelimit import RateLimiter
from vetchart.adapters.security.passwords import Argon2Hasher
from vetchart.adapters.security.tokens import JwtTokens
from vetchart.adapters.storage.local import LocalObjectStorage
from vetchart.adapters.storage.s3 import S3ObjectStorage
from vetchart.config import AuthSettings, ConfigurationError, Settings
from vetchart.domain.audit import AuditKey
from vetchart.services.ports.notifications import Notifier
from vetchart.services.ports.outbox import Mailer
from vetchart.services.ports.schedule import DashboardCache
from vetchart.services.ports.storage import ObjectStorage, SignedUrlVerifier
from vetchart.services.ports.system import Clock

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PoolStats:
    size: int
    checked_out: int
    overflow: int
    checked_in: int


def pool_stats(engine: AsyncEngine) -> PoolStats:
    pool = engine.sync_engine.pool
    return PoolStats(
        size=int(getattr(pool, "size", lambda: 0)()),
        checked_out=int(getattr(pool, "checkedout", lambda: 0)()),
        overflow=int(getattr(pool, "overflow", lambda: 0)()),
        checked_in=int(getattr(pool, "checkedin", lambda: 0)()),
    )


@dataclass
class Database:
    """The engines and fast-path pools of one database (and its replica, if any); the
    services' ``Container`` is built on them (bootstrap/services.py)."""

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


async def open_database(
    settings: Settings,
    *,
    database_url: str,
    tracer_provider: TracerProvider | None,
    wait_for_db: bool,
) -> Database:
    """Create engines and pools. ``database_url`` is resolved by the entrypoint
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
    return Database(
        database_url=database_url,
        engine=engine,
        read_engine=read_engine,
        fast_pool=fast_pool,
        fast_read_pool=fast_read_pool,
        readiness=readiness,
    )


def build_hasher(auth: AuthSettings) -> Argon2Hasher:
    # The pool starts with the first hash and stops in Container.aclose.
    return Argon2Hasher(
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


def build_rate_limiter(settings: Settings) -> RateLimiter:
    limits = settings.rate_limit
    return RateLimiter(
        redis_url=settings.redis.url,
        limits={
            "signup": limits.signup,
            "login": limits.login,
            "refresh": limits.refresh,
            "password": limits.password,
            "mfa": limits.mfa,
            "default": limits.default,
            "api_key": settings.api_keys.rate_limit,
            "api_key_failure": settings.api_keys.failure_rate_limit,
        },
        enabled=limits.enabled,
        key_prefix=settings.redis.key("limits"),
    )


def build_tokens(auth: AuthSettings) -> JwtTokens:
    return JwtTokens(
        active_secret=auth.jwt_secret.get_secret_value(),
        previous_secrets=[s.get_secret_value() for s in auth.jwt_previous_secrets],
        issuer=auth.jwt_issuer,
        audience=auth.jwt_audience,
        access_ttl=timedelta(seconds=auth.access_token_ttl_seconds),
        mfa_ttl=timedelta(seconds=auth.mfa_token_ttl_seconds),
    )


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
        return RedisDashboardCache(settings.redis.url, ttl, prefix=settings.redis.key("dashboard"))
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


def build_notifiers(settings: Settings, mailer: Mailer) -> list[Notifier]:
    """The message channels: email over ``mailer``; SMS over Twilio when configured, else
    the local channel (the log)."""
    messaging = settings.messaging
    sms: Notifier = LocalSms(redact=settings.is_production)
    if messaging.sms_backend == "twilio":
        assert messaging.twilio_account_sid
        assert messaging.twilio_auth_token
        assert messaging.twilio_from  # checked by MessagingSettings
        sms = TwilioSms(
            account_sid=messaging.twilio_account_sid,
            auth_token=messaging.twilio_auth_token.get_secret_value(),
            sender=messaging.twilio_from,
            base_url=messaging.twilio_base_url,
            timeout_seconds=messaging.sms_timeout_seconds,
        )
    return [EmailChannel(mailer), sms]


def build_tracer_provider(settings: Settings) -> TracerProvider | None:
    return tracing.build_tracer_provider(
        service_name=settings.observability.otel_service_name,
        endpoint=settings.observability.otel_endpoint,
    )
