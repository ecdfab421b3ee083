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
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - the known default
MIN_JWT_SECRET_BYTES = 32


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
    # Start-up: how long to wait for the database to answer, in seconds.
    startup_timeout: float = Field(default=30.0, gt=0)
    # Idempotent reads that hit a dropped connection are retried this many times.
    read_retries: int = Field(default=2, ge=0, le=10)
    echo: bool = False

    model_config = SettingsConfigDict(env_prefix="VETCHART_DB_")

    @property
    def uses_embedded(self) -> bool:
        return self.url is None


class AuthSettings(_Section):
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_issuer: str = "vetchart"
    jwt_audience: str = "vetchart-api"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30, le=24 * 3600)


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
    max_audio_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_kb_document_bytes: int = Field(default=20 * 1024 * 1024, gt=0)


class ObservabilitySettings(_Section):
    log_level: str = "INFO"
    # None: JSON in production, readable console lines elsewhere.
    log_json: bool | None = None
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("VETCHART_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    otel_service_name: str = "vetchart"


class ApiSettings(_Section):
    # None: on except in production.
    docs_enabled: bool | None = None
    default_page_size: int = Field(default=50, ge=1, le=200)
    max_page_size: int = Field(default=200, ge=1, le=1000)


class RedisSettings(_Section):
    url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))


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
    if settings.debug:
        problems.append("VETCHART_DEBUG is on; turn it off")
    if settings.database.uses_embedded:
        problems.append(
            "DATABASE_URL is not set, so the embedded development PostgreSQL would be used; "
            "point DATABASE_URL at a managed PostgreSQL"
        )
    return problems
