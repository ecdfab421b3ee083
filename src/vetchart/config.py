"""Typed configuration: one ``Settings`` object composed of sections, one per concern.

Every value comes from the environment (or a ``.env`` file in the working directory).
Most variables are ``VETCHART_<NAME>``; a few names are fixed by operators' scripts and
are read without the prefix: ``DATABASE_URL``, ``READ_DATABASE_URL``, ``TEST_DATABASE_URL``
and ``REDIS_URL``.

``Settings.load()`` validates the whole object once at start-up. In ``production`` it
refuses unsafe values with a message that names the setting to fix.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - the known default
DEVELOPMENT_ENCRYPTION_KEY = "dev-only-insecure-encryption-key-change-me"
DEVELOPMENT_AUDIT_KEY = "dev-only-insecure-audit-chain-key-change-me"
MIN_JWT_SECRET_BYTES = 32
# The role names (the domain's Role enum; repeated here so settings import no domain code).
KNOWN_ROLES = ("PET_OWNER", "VET_STAFF", "VET", "PRACTICE_ADMIN", "SYSTEM_ADMIN")


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(ValueError):
    """A setting has a value the application refuses to start with."""


class _Section(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VETCHART_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Proxies whose X-Forwarded-For is believed (comma separated addresses).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Reverse proxies in front of uvicorn: how many seconds to wait on shutdown.
    graceful_shutdown_seconds: int = Field(default=10, ge=0)
    # Slow clients (entrypoints/http_limits.py): the request head must be complete within
    # this many seconds; a body may pause at most this long; a head may be this large (431
    # beyond); an idle kept-alive connection is closed after this long.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    body_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    # Request bodies (api/bounded_input.py), before any work or authentication: at most
    # this many bytes for any request but the uploads (they have their own limits,
    # VETCHART_MAX_AUDIO_BYTES etc.), and this many for /api/v1/auth/*; larger is 413.
    max_body_bytes: int = Field(default=1024 * 1024, ge=16 * 1024, le=1024 * 1024 * 1024)
    max_auth_body_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    # Connections plus in-flight requests per process before new requests get 503.
    limit_concurrency: int = Field(default=1000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _split_proxies(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trusted_proxies" in data:
            data = {**data, "trusted_proxies": _split_csv(data["trusted_proxies"])}
        return data


class DatabaseSettings(_Section):
    # None means: use the embedded PostgreSQL under VETCHART_DATA_DIR.
    url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    read_url: str | None = Field(default=None, validation_alias=AliasChoices("READ_DATABASE_URL"))
    pool_size: int = Field(default=10, ge=1, le=500)
    max_overflow: int = Field(default=5, ge=0, le=500)
    # Seconds a request waits for a pooled connection before it answers 503.
    pool_timeout: float = Field(default=3.0, gt=0, le=120)
    # Seconds after which a pooled connection is replaced.
    pool_recycle: int = Field(default=1800, ge=-1)
    # Per-statement timeout on the server side, milliseconds (0 = none).
    statement_timeout_ms: int = Field(default=30_000, ge=0)
    # Start-up: how long to wait for the database to answer, in seconds, before serving
    # anyway (readiness 503 until it answers).
    startup_timeout: float = Field(default=5.0, gt=0)
    # Idempotent reads that hit a dropped connection are retried this many times.
    read_retries: int = Field(default=2, ge=0, le=10)
    echo: bool = False
    # Migrations (`vetchart db upgrade`) connect here when set; else with DATABASE_URL.
    migration_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MIGRATION_DATABASE_URL")
    )
    # The API and the worker log in as this role (created by the migrations with LOGIN,
    # neither superuser nor owner: least privilege) at DATABASE_URL's host and database,
    # whatever user DATABASE_URL names; migrations use DATABASE_URL's own user (or
    # MIGRATION_DATABASE_URL). Empty: log in as DATABASE_URL's user (then it must itself
    # be an unprivileged role: production refuses a superuser or the tables' owner).
    app_role: str = "vetchart_app"
    # The app role's password, when the server asks for one (`vetchart db upgrade` sets
    # it on the role). Unset: DATABASE_URL's password when its user is the app role,
    # else none (trust or peer authentication, as the embedded server uses).
    app_password: SecretStr | None = None

    model_config = SettingsConfigDict(env_prefix="VETCHART_DB_")

    @property
    def uses_embedded(self) -> bool:
        return self.url is None


class AuthSettings(_Section):
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    # Keys that still verify tokens after a rotation (comma separated), until removed.
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    jwt_issuer: str = "vetchart"
    jwt_audience: str = "vetchart-api"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30, le=3600)
    mfa_token_ttl_seconds: int = Field(default=5 * 60, ge=30, le=1800)
    # Seals TOTP seeds at rest. Keep it stable: changing it invalidates enrolments.
    encryption_key: SecretStr = SecretStr(DEVELOPMENT_ENCRYPTION_KEY)
    session_idle_timeout_staff_seconds: int = Field(default=3600, ge=60, le=3600)
    session_idle_timeout_owner_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    session_absolute_lifetime_seconds: int = Field(
        default=30 * 24 * 3600, ge=300, le=30 * 24 * 3600
    )
    # How long an authenticated session may be served from memory: without Redis, how long
    # another process may still accept a revoked session (with Redis it forgets at once,
    # adapters/security/revocation.py). At most 2 s, the promised revocation delay.
    session_cache_seconds: float = Field(default=2.0, ge=0, le=2)
    # Sign-in throttling (docs/auth.md). Per (account, client address; IPv6 by /64):
    # this many failures lock that pair only, for base seconds, doubling per lockout up
    # to max; one failure is forgiven every decay seconds.
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_decay_seconds: int = Field(default=3 * 60, ge=1)
    lockout_base_seconds: int = Field(default=5 * 60, ge=1)
    lockout_max_seconds: int = Field(default=24 * 3600, ge=1)
    # Per account over every address: password failures past this ceiling (one forgiven
    # every decay seconds) lock the account for everyone for lock seconds...
    lockout_account_threshold: int = Field(default=100, ge=1, le=10_000)
    lockout_account_decay_seconds: int = Field(default=36, ge=1)
    lockout_account_lock_seconds: int = Field(default=15 * 60, ge=1, le=24 * 3600)
    # ...and MFA code failures past this one (the same lock length).
    lockout_mfa_account_threshold: int = Field(default=10, ge=1, le=1000)
    lockout_mfa_account_decay_seconds: int = Field(default=15 * 60, ge=1)
    # ...except addresses with a full sign-in of that account within this many days
    # (0: none): those are held by their own pair throttle only.
    lockout_known_address_days: int = Field(default=30, ge=0, le=365)
    # Roles that must enrol in MFA before they can do anything else (comma separated).
    # Unset: SYSTEM_ADMIN and PRACTICE_ADMIN in production, nobody elsewhere.
    mfa_required_roles: Annotated[list[str] | None, NoDecode] = None
    mfa_issuer: str = "vetchart"
    # Argon2id parameters: OWASP's minimum (19 MiB, t=2, p=1), about 17 ms a hash on one
    # core of the project machine. Hashes of other parameters still verify and are
    # re-hashed with these at the next sign-in.
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8 * 1024, le=1024 * 1024)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    # Where hashes run: "process" (a pool of lowered-priority worker processes) or
    # "thread" (where processes cannot be used; also the fallback when they fail to start).
    hash_executor: Literal["process", "thread"] = "process"
    # Pool size. Unset: one per CPU this process may run on (its affinity).
    hash_workers: int | None = Field(default=None, ge=1, le=64)
    # At most this many hashes in flight, i.e. handed to the pool (each uses
    # argon2_memory_kib of memory). Unset: hash_workers.
    hash_concurrency: int | None = Field(default=None, ge=1, le=64)
    # Niceness the workers add to their own (0 = none, 19 = lowest priority): when the
    # API is busy, requests win the CPU and hashes use what is left.
    hash_worker_nice: int = Field(default=10, ge=0, le=19)
    # At most this many hashes wait for a slot, each at most this long; beyond either,
    # the request (sign-in, sign-up, password change...) answers 503 with Retry-After.
    hash_queue_limit: int = Field(default=32, ge=0, le=10_000)
    hash_queue_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("jwt_previous_secrets", "mfa_required_roles"):
                if key in data:
                    data = {**data, key: _split_csv(data[key])}
        return data

    @model_validator(mode="after")
    def _known_roles(self) -> AuthSettings:
        unknown = sorted(
            {r.strip().upper() for r in self.mfa_required_roles or []} - set(KNOWN_ROLES)
        )
        if unknown:
            raise ValueError(
                f"VETCHART_MFA_REQUIRED_ROLES names unknown roles {unknown}; "
                f"known: {', '.join(KNOWN_ROLES)}"
            )
        return self


class RateLimitSettings(_Section):
    """Limits in the `limits` notation ("10/minute", "100 per hour")."""

    signup: str = "10/minute"  # per client address
    login: str = "60/minute"  # per client address (a whole clinic may share one)
    refresh: str = "60/minute"  # per client address
    password: str = "10/minute"  # noqa: S105 - per user, password changes
    mfa: str = "10/minute"  # per client address
    default: str = "600/minute"  # per user, every other endpoint
    enabled: bool = True

    model_config = SettingsConfigDict(env_prefix="VETCHART_RATE_LIMIT_")


class CorsSettings(_Section):
    origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_credentials: bool = False
    max_age_seconds: int = Field(default=600, ge=0)

    model_config = SettingsConfigDict(env_prefix="VETCHART_CORS_")

    @model_validator(mode="before")
    @classmethod
    def _split_origins(cls, data: Any) -> Any:
        if isinstance(data, dict) and "origins" in data:
            data = {**data, "origins": _split_csv(data["origins"])}
        return data


class StorageSettings(_Section):
    """Where files (visit audio, attachments, knowledge-base documents) are kept: a local
    folder by default, S3 or any S3-compatible store when a bucket is configured."""

    max_audio_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_kb_document_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # Local folder (default: <VETCHART_DATA_DIR>/files).
    files_dir: Path | None = None
    # Lifetime of a pre-signed (or locally signed) URL, seconds.
    signed_url_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "s3_access_key_id", "VETCHART_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"
        ),
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "s3_secret_access_key", "VETCHART_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"
        ),
    )
    s3_force_path_style: bool = False
    s3_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    s3_read_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    s3_max_attempts: int = Field(default=3, ge=1, le=10)


class ObservabilitySettings(_Section):
    log_level: str = "INFO"
    # None: JSON in production, readable console lines elsewhere.
    log_json: bool | None = None
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("VETCHART_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    otel_service_name: str = "vetchart"
    # /metrics needs `Authorization: Bearer <this>` when set; unset, /metrics answers 404
    # in production and is open in development and test.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)


class ApiSettings(_Section):
    # None: on except in production.
    docs_enabled: bool | None = None
    default_page_size: int = Field(default=50, ge=1, le=200)
    max_page_size: int = Field(default=200, ge=1, le=1000)
    # How long a rendered dashboard may be served from cache (changes invalidate it).
    dashboard_cache_seconds: float = Field(default=15.0, ge=0, le=300)
    # An unanswered Idempotency-Key claim holds its key this long; after it, the request is
    # presumed dead (crashed process) and a retry with the same key takes the claim over.
    idempotency_lease_seconds: float = Field(default=60.0, gt=0, le=3600)


class RecordSettings(_Section):
    # A record is finalised when a VET signs it, or automatically this long after it was
    # created; after that every amendment needs a reason and is flagged as late.
    finalise_after_hours: float = Field(default=24.0, gt=0, le=24 * 365)

    model_config = SettingsConfigDict(env_prefix="VETCHART_RECORD_")


class AuditSettings(_Section):
    # Reads of medical data commit their audit row before the data leaves. By default that
    # commit does not wait for the WAL flush (synchronous_commit off for those read-only
    # transactions): a database crash may lose the last fraction of a second of READ audit
    # rows, never a write's (docs/audit.md). True: every read waits for the flush.
    reads_durable: bool = False
    # The key of the audit chain's HMAC-SHA-256 hashes and of checkpoint signatures. Keep
    # it outside the database and stable (entries hashed under another key no longer
    # verify). Production refuses the development default and keys under 32 bytes.
    key: SecretStr = SecretStr(DEVELOPMENT_AUDIT_KEY)

    model_config = SettingsConfigDict(env_prefix="VETCHART_AUDIT_")


class MailSettings(_Section):
    """SMTP for outgoing mail; without a host, mail is written to the log (development)."""

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = "vetchart <no-reply@vetchart.local>"
    # Links in mail (invitations) point here.
    public_base_url: str = "http://127.0.0.1:8000"


class WorkerSettings(_Section):
    """The background worker (procrastinate): `vetchart worker`, or inside `vetchart serve`."""

    # Run a worker inside the API process. None: on in development only (`make run` is
    # then one process); production runs `vetchart worker` processes beside the API.
    embedded: bool | None = Field(
        default=None, validation_alias=AliasChoices("VETCHART_EMBEDDED_WORKER")
    )
    concurrency: int = Field(default=4, ge=1, le=64)
    # A failing job is tried this many times in all, waiting retry_base_seconds ** (n + 1)
    # seconds before try n + 1 (2, 4, 8, ... s), then stays in the `failed` state.
    max_attempts: int = Field(default=8, ge=1, le=50)
    retry_base_seconds: int = Field(default=2, ge=1, le=60)
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
    # A job whose worker sent no heartbeat for this long is run again by another worker.
    stalled_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How often a worker looks for stalled jobs (seconds, 1-59).
    stalled_check_seconds: int = Field(default=15, ge=1, le=59)

    model_config = SettingsConfigDict(env_prefix="VETCHART_WORKER_")


class WebhookSettings(_Section):
    """Deliveries of practice events to their webhook endpoints (docs/webhooks.md)."""

    # Tries per sending of a delivery; before try n + 1 the queue waits
    # retry_base_seconds ** n seconds (5 s, 25 s, 2 min, 10 min, 52 min, 4.3 h, 21.7 h),
    # then the delivery is dead (kept, re-sendable).
    max_tries: int = Field(default=8, ge=1, le=20)
    retry_base_seconds: int = Field(default=5, ge=1, le=60)
    # One try's limit, connection to status line.
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Private, loopback and link-local targets, and plain http: for tests and development
    # only (SSRF: a production server must never be made to call into its own network).
    allow_private_targets: bool = False

    model_config = SettingsConfigDict(env_prefix="VETCHART_WEBHOOK_")


class ApiKeySettings(_Section):
    """Integrations' API keys (docs/auth.md, "API keys")."""

    # Requests per key (in the `limits` notation), in place of the per-user default.
    rate_limit: str = "600/minute"
    # Refused keys (malformed, unknown, revoked, expired) per client address: past it the
    # answer is 429 and no further audit row is written for that address.
    failure_rate_limit: str = "30/minute"
    # A key's last_used_at is written at most once per this many seconds.
    last_used_seconds: int = Field(default=60, ge=1, le=24 * 3600)

    model_config = SettingsConfigDict(env_prefix="VETCHART_API_KEY_")


class RedisSettings(_Section):
    url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))
    # Every key and channel of this deployment starts with it (``<prefix>:limits``,
    # ``<prefix>:dashboard``, ``<prefix>:sessions``): several deployments, or tests, can
    # share one Redis.
    prefix: str = Field(
        default="vetchart",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        validation_alias=AliasChoices("VETCHART_REDIS_PREFIX", "prefix"),
    )

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"


class AiSettings(_Section):
    """Outside AI services, all optional: OpenAI (or any OpenAI-compatible server) for
    embeddings and generated answers, Pinecone for vector search. Each call has a timeout,
    bounded retries with jitter, and each service a circuit breaker."""

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "VETCHART_OPENAI_API_KEY")
    )
    openai_base_url: str | None = None
    openai_chat_model: str = "gpt-4o-mini"
    openai_embedding_model: str = "text-embedding-3-small"
    # The pgvector column is vector(1536); other sizes are used with Pinecone only.
    openai_embedding_dimensions: int = Field(default=1536, ge=16, le=4096)
    # Embed chunks and questions with OpenAI when it is configured (off: generated answers
    # over full-text search only).
    openai_embeddings: bool = True
    openai_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    openai_max_attempts: int = Field(default=3, ge=1, le=10)
    openai_retry_base_seconds: float = Field(default=0.2, ge=0, le=30)
    openai_retry_max_seconds: float = Field(default=2.0, ge=0, le=60)
    # All attempts of one call made while a request waits (kb/query), together.
    openai_request_deadline_seconds: float = Field(default=15.0, gt=0, le=300)
    pinecone_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PINECONE_API_KEY", "VETCHART_PINECONE_API_KEY"),
    )
    pinecone_index_host: str | None = None
    pinecone_namespace: str = Field(default="vetchart", min_length=1, max_length=64)
    pinecone_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A service's circuit opens after this many consecutive failures, and lets one trial
    # call through after circuit_reset_seconds.
    circuit_failure_threshold: int = Field(default=5, ge=1, le=100)
    circuit_reset_seconds: float = Field(default=30.0, gt=0, le=3600)

    @property
    def openai_enabled(self) -> bool:
        return self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())

    @property
    def pinecone_enabled(self) -> bool:
        key = self.pinecone_api_key
        return key is not None and bool(key.get_secret_value()) and bool(self.pinecone_index_host)


class SttSettings(_Section):
    """Speech to text of visit recordings (docs/transcription.md): ``none`` (the client
    supplies the transcript), ``openai`` (``POST /audio/transcriptions``, with the OpenAI
    key of AiSettings) or ``local`` (PocketSphinx, the ``stt-local`` extra)."""

    provider: Literal["none", "openai", "local"] = "none"
    model: str = Field(default="whisper-1", min_length=1, max_length=100)
    # Defaults to VETCHART_OPENAI_BASE_URL (then OpenAI's own).
    base_url: str | None = None
    # A language hint (ISO 639-1, e.g. "en"); empty lets the model tell.
    language: str | None = Field(default=None, max_length=16)
    timeout_seconds: float = Field(default=120.0, gt=0, le=1800)
    # Attempts of one call (retries with jitter, as for the other OpenAI calls) ...
    max_attempts: int = Field(default=2, ge=1, le=10)
    # ... and of one recording across worker runs (each after the worker's back-off).
    job_attempts: int = Field(default=4, ge=1, le=20)
    # Recordings larger or longer than this are not sent (OpenAI takes 25 MB at most).
    max_audio_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_duration_seconds: float = Field(default=3600.0, gt=0, le=6 * 3600)

    model_config = SettingsConfigDict(env_prefix="VETCHART_STT_")


# A knowledge-base document's ingestion caps: the defaults (the domain's IngestBudget
# defaults, repeated here so settings import no domain code) and the highest accepted.
KB_DEFAULT_MAX_EXTRACTED_CHARS = 1_000_000
KB_DEFAULT_MAX_PAGES = 500
KB_DEFAULT_MAX_CHUNKS = 2_000
KB_DEFAULT_MAX_INGEST_SECONDS = 120.0
KB_MAX_EXTRACTED_CHARS_CEILING = 50_000_000
KB_MAX_PAGES_CEILING = 10_000
KB_MAX_CHUNKS_CEILING = 100_000
KB_MAX_INGEST_SECONDS_CEILING = 3600.0


class KbSettings(_Section):
    """The knowledge base: chunking of documents and retrieval."""

    chunk_chars: int = Field(default=1200, ge=200, le=8000)
    chunk_overlap_chars: int = Field(default=150, ge=0, le=4000)
    # Chunks taken from each ranking (full text, vectors) before they are fused.
    candidates: int = Field(default=40, ge=5, le=200)
    # The k of reciprocal rank fusion: score = sum of 1 / (k + rank).
    rrf_k: int = Field(default=60, ge=1, le=1000)
    excerpt_chars: int = Field(default=300, ge=80, le=2000)
    # Ingestion budget of one document; past a cap it ends `failed` with the reason.
    max_extracted_chars: int = Field(
        default=KB_DEFAULT_MAX_EXTRACTED_CHARS, ge=1, le=KB_MAX_EXTRACTED_CHARS_CEILING
    )
    max_pages: int = Field(default=KB_DEFAULT_MAX_PAGES, ge=1, le=KB_MAX_PAGES_CEILING)
    max_chunks: int = Field(default=KB_DEFAULT_MAX_CHUNKS, ge=1, le=KB_MAX_CHUNKS_CEILING)
    max_ingest_seconds: float = Field(
        default=KB_DEFAULT_MAX_INGEST_SECONDS, gt=0, le=KB_MAX_INGEST_SECONDS_CEILING
    )

    model_config = SettingsConfigDict(env_prefix="VETCHART_KB_")

    @model_validator(mode="after")
    def _overlap_fits(self) -> KbSettings:
        if self.chunk_overlap_chars > self.chunk_chars // 2:
            raise ValueError("VETCHART_KB_CHUNK_OVERLAP_CHARS must be at most half of CHUNK_CHARS")
        return self


class MessagingSettings(_Section):
    """Client messages (docs/messaging.md): SMS through Twilio's Messages API, or, without
    an account, the local channel (the message log and the application log only)."""

    # "twilio" sends SMS through Twilio; "local" logs them (development, `make run`).
    sms_backend: Literal["local", "twilio"] = "local"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # The sender: a Twilio phone number (E.164) or a messaging service's sender.
    twilio_from: str | None = None
    # Tests point this at a local server that speaks the same API.
    twilio_base_url: str = "https://api.twilio.com"
    sms_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # An appointment reminder goes out this many hours before the start.
    appointment_reminder_hours: int = Field(default=24, ge=1, le=168)

    model_config = SettingsConfigDict(env_prefix="VETCHART_MESSAGING_")

    @model_validator(mode="after")
    def _twilio_complete(self) -> MessagingSettings:
        if self.sms_backend == "twilio" and not (
            self.twilio_account_sid and self.twilio_auth_token and self.twilio_from
        ):
            raise ValueError(
                "VETCHART_MESSAGING_SMS_BACKEND=twilio needs VETCHART_MESSAGING_TWILIO_ACCOUNT_SID,"
                " VETCHART_MESSAGING_TWILIO_AUTH_TOKEN and VETCHART_MESSAGING_TWILIO_FROM"
            )
        return self


class Settings(_Section):
    env: Environment = Environment.DEVELOPMENT
    debug: bool = False
    data_dir: Path = Path("var")

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    cors: CorsSettings = Field(default_factory=CorsSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    records: RecordSettings = Field(default_factory=RecordSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    ai: AiSettings = Field(default_factory=AiSettings)
    kb: KbSettings = Field(default_factory=KbSettings)
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    stt: SttSettings = Field(default_factory=SttSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    api_keys: ApiKeySettings = Field(default_factory=ApiKeySettings)

    @property
    def embedded_worker(self) -> bool:
        if self.worker.embedded is None:
            return self.env is Environment.DEVELOPMENT
        return self.worker.embedded

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def docs_enabled(self) -> bool:
        if self.api.docs_enabled is None:
            return not self.is_production
        return self.api.docs_enabled

    @property
    def log_json(self) -> bool:
        if self.observability.log_json is None:
            return self.is_production
        return self.observability.log_json

    @property
    def mfa_required_roles(self) -> frozenset[str]:
        configured = self.auth.mfa_required_roles
        if configured is None:
            return (
                frozenset({"SYSTEM_ADMIN", "PRACTICE_ADMIN"}) if self.is_production else frozenset()
            )
        return frozenset(role.strip().upper() for role in configured)

    @property
    def files_dir(self) -> Path:
        return (self.storage.files_dir or self.data_dir / "files").resolve()

    @property
    def embedded_pgdata(self) -> Path:
        return (self.data_dir / "pgdata").resolve()

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.is_production:
            problems = production_problems(self)
            if problems:
                raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
        return self

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read and validate the settings from the environment (and ``.env``)."""
        return cls(**overrides)


def production_problems(settings: Settings) -> list[str]:
    """Every reason the given settings are unfit for production, each naming its setting."""
    problems: list[str] = []
    secret = settings.auth.jwt_secret.get_secret_value()
    if secret == DEVELOPMENT_JWT_SECRET:
        problems.append("VETCHART_JWT_SECRET is the development default; set a random secret")
    elif len(secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        problems.append(
            f"VETCHART_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes; "
            "use a longer random secret"
        )
    if "*" in settings.cors.origins and settings.cors.allow_credentials:
        problems.append(
            "VETCHART_CORS_ORIGINS contains '*' while VETCHART_CORS_ALLOW_CREDENTIALS is on; "
            "list the allowed origins explicitly"
        )
    key = settings.auth.encryption_key.get_secret_value()
    if key == DEVELOPMENT_ENCRYPTION_KEY or len(key.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        problems.append(
            "VETCHART_ENCRYPTION_KEY is the development default or shorter than "
            f"{MIN_JWT_SECRET_BYTES} bytes; set a long random key"
        )
    audit_key = settings.audit.key.get_secret_value()
    if audit_key == DEVELOPMENT_AUDIT_KEY or len(audit_key.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        problems.append(
            "VETCHART_AUDIT_KEY is the development default or shorter than "
            f"{MIN_JWT_SECRET_BYTES} bytes; set a long random key (kept outside the database)"
        )
    if settings.debug:
        problems.append("VETCHART_DEBUG is on; turn it off")
    if settings.webhooks.allow_private_targets:
        problems.append(
            "VETCHART_WEBHOOK_ALLOW_PRIVATE_TARGETS is on: webhooks could reach this "
            "network's own services; turn it off"
        )
    if settings.database.uses_embedded:
        problems.append(
            "DATABASE_URL is not set, so the embedded development PostgreSQL would be used; "
            "point DATABASE_URL at a managed PostgreSQL"
        )
    return problems
