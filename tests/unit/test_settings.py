"""Unit tests of ``vetchart.config.Settings``: environment, ``.env``, production refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError

from vetchart.config import (
    DEVELOPMENT_ENCRYPTION_KEY,
    DEVELOPMENT_JWT_SECRET,
    MIN_JWT_SECRET_BYTES,
    Environment,
    Settings,
)
from vetchart.entrypoints import runtime

GOOD_SECRET = "a-production-secret-that-is-long-enough-0123456789"
GOOD_KEY = "a-production-encryption-key-long-enough-9876543210"
GOOD_AUDIT_KEY = "a-production-audit-chain-key-long-enough-0123456789"
GOOD_DB = "postgresql://vetchart:pw@db.internal:5432/vetchart"

# Variables read without the VETCHART_ prefix (or by the OpenTelemetry convention).
_UNPREFIXED = (
    "DATABASE_URL",
    "READ_DATABASE_URL",
    "TEST_DATABASE_URL",
    "REDIS_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer variable and no ``.env`` of the checkout may influence these tests."""
    for name in list(os.environ):
        if name.upper().startswith("VETCHART_") or name.upper() in _UNPREFIXED:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete, valid production environment; each test then breaks one thing."""
    monkeypatch.setenv("VETCHART_ENV", "production")
    monkeypatch.setenv("VETCHART_JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("VETCHART_ENCRYPTION_KEY", GOOD_KEY)
    monkeypatch.setenv("VETCHART_AUDIT_KEY", GOOD_AUDIT_KEY)
    monkeypatch.setenv("DATABASE_URL", GOOD_DB)


def _refusal(monkeypatch: pytest.MonkeyPatch) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings.load()
    message = str(caught.value)
    assert "refusing to start in production" in message
    return message


# --- production refusals ----------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "dev-only-insecure-audit-chain-key-change-me", "short"])
def test_production_refuses_a_default_or_short_audit_key(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """Whoever knows the audit key can forge a whole chain: the development default is
    public, so production refuses it (and keys under 32 bytes)."""
    _production_env(monkeypatch)
    if value is None:
        monkeypatch.delenv("VETCHART_AUDIT_KEY")
    else:
        monkeypatch.setenv("VETCHART_AUDIT_KEY", value)
    assert "VETCHART_AUDIT_KEY" in _refusal(monkeypatch)


def test_valid_production_configuration_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_CORS_ORIGINS", "https://app.vetchart.example")
    monkeypatch.setenv("VETCHART_CORS_ALLOW_CREDENTIALS", "true")

    settings = Settings.load()

    assert settings.is_production
    assert settings.env is Environment.PRODUCTION
    assert settings.auth.jwt_secret.get_secret_value() == GOOD_SECRET
    assert settings.database.url == GOOD_DB
    assert not settings.database.uses_embedded
    assert settings.cors.origins == ["https://app.vetchart.example"]
    assert settings.cors.allow_credentials is True
    assert settings.debug is False


def test_production_refuses_the_default_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    monkeypatch.delenv("VETCHART_JWT_SECRET")

    message = _refusal(monkeypatch)

    assert "VETCHART_JWT_SECRET" in message
    assert "development default" in message
    # Only the broken setting is named.
    for other in ("DATABASE_URL", "VETCHART_CORS_ORIGINS", "VETCHART_DEBUG"):
        assert other not in message


def test_production_refuses_the_default_jwt_secret_set_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_JWT_SECRET", DEVELOPMENT_JWT_SECRET)

    assert "VETCHART_JWT_SECRET" in _refusal(monkeypatch)


def test_production_refuses_a_short_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_JWT_SECRET", "x" * (MIN_JWT_SECRET_BYTES - 1))

    message = _refusal(monkeypatch)

    assert "VETCHART_JWT_SECRET" in message
    assert f"shorter than {MIN_JWT_SECRET_BYTES} bytes" in message
    # The secret itself is never echoed back.
    assert "x" * (MIN_JWT_SECRET_BYTES - 1) not in message


def test_jwt_secret_length_is_counted_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    # 16 characters but 32 bytes in UTF-8: exactly the minimum, accepted.
    monkeypatch.setenv("VETCHART_JWT_SECRET", "é" * 16)
    assert Settings.load().is_production
    # Exactly the minimum in ASCII is accepted too.
    monkeypatch.setenv("VETCHART_JWT_SECRET", "y" * MIN_JWT_SECRET_BYTES)
    assert Settings.load().is_production


def test_production_refuses_wildcard_cors_with_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_CORS_ORIGINS", "https://app.vetchart.example, *")
    monkeypatch.setenv("VETCHART_CORS_ALLOW_CREDENTIALS", "true")

    message = _refusal(monkeypatch)

    assert "VETCHART_CORS_ORIGINS" in message
    assert "VETCHART_CORS_ALLOW_CREDENTIALS" in message
    assert "VETCHART_JWT_SECRET" not in message


def test_production_accepts_wildcard_cors_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_CORS_ORIGINS", "*")
    monkeypatch.setenv("VETCHART_CORS_ALLOW_CREDENTIALS", "false")

    settings = Settings.load()

    assert settings.cors.origins == ["*"]
    assert settings.cors.allow_credentials is False


@pytest.mark.parametrize("key", [DEVELOPMENT_ENCRYPTION_KEY, "k" * (MIN_JWT_SECRET_BYTES - 1)])
def test_production_refuses_a_weak_encryption_key(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_ENCRYPTION_KEY", key)

    message = _refusal(monkeypatch)

    assert "VETCHART_ENCRYPTION_KEY" in message
    assert "VETCHART_JWT_SECRET" not in message
    assert key not in message


def test_production_refuses_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_DEBUG", "true")

    message = _refusal(monkeypatch)

    assert "VETCHART_DEBUG" in message
    assert "VETCHART_JWT_SECRET" not in message


def test_production_refuses_the_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    monkeypatch.delenv("DATABASE_URL")

    message = _refusal(monkeypatch)

    assert "DATABASE_URL" in message
    assert "embedded" in message
    assert "VETCHART_JWT_SECRET" not in message


def test_production_lists_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETCHART_ENV", "production")
    monkeypatch.setenv("VETCHART_DEBUG", "1")

    message = _refusal(monkeypatch)

    for name in (
        "VETCHART_JWT_SECRET",
        "VETCHART_ENCRYPTION_KEY",
        "VETCHART_DEBUG",
        "DATABASE_URL",
    ):
        assert name in message


def test_development_accepts_the_defaults_production_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VETCHART_DEBUG", "true")
    monkeypatch.setenv("VETCHART_CORS_ORIGINS", "*")
    monkeypatch.setenv("VETCHART_CORS_ALLOW_CREDENTIALS", "true")

    settings = Settings.load()

    assert settings.env is Environment.DEVELOPMENT
    assert settings.auth.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
    assert settings.database.uses_embedded
    assert settings.debug is True


def test_production_refusal_applies_to_explicit_construction_too() -> None:
    with pytest.raises(ValidationError, match="VETCHART_JWT_SECRET"):
        Settings(env=Environment.PRODUCTION)


# --- reading the environment ------------------------------------------------------------


def test_defaults_without_any_environment() -> None:
    settings = Settings.load()

    assert settings.env is Environment.DEVELOPMENT
    assert settings.server.port == 8000
    assert settings.database.url is None
    assert settings.database.pool_size == 10
    assert settings.cors.origins == []
    assert settings.redis.url is None
    assert settings.data_dir == Path("var")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("VETCHART_ENV", "test")
    monkeypatch.setenv("VETCHART_DB_POOL_SIZE", "17")
    monkeypatch.setenv("VETCHART_DB_MAX_OVERFLOW", "3")
    monkeypatch.setenv("VETCHART_DB_POOL_TIMEOUT", "0.75")
    monkeypatch.setenv("VETCHART_CORS_ORIGINS", " https://a.example ,https://b.example,, ")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5433/d")
    monkeypatch.setenv("READ_DATABASE_URL", "postgresql://u@replica:5433/d")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("VETCHART_PORT", "9123")
    monkeypatch.setenv("VETCHART_HOST", "0.0.0.0")  # noqa: S104 - a string under test
    monkeypatch.setenv("VETCHART_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2")
    monkeypatch.setenv("VETCHART_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VETCHART_LOG_LEVEL", "DEBUG")

    settings = Settings.load()

    assert settings.env is Environment.TEST
    assert settings.database.pool_size == 17
    assert settings.database.max_overflow == 3
    assert settings.database.pool_timeout == 0.75
    assert settings.cors.origins == ["https://a.example", "https://b.example"]
    assert settings.database.url == "postgresql://u@h:5433/d"
    assert settings.database.read_url == "postgresql://u@replica:5433/d"
    assert settings.database.uses_embedded is False
    assert settings.redis.url == "redis://cache:6379/2"
    assert settings.server.port == 9123
    assert settings.server.host == "0.0.0.0"  # noqa: S104
    assert settings.server.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert settings.data_dir == data_dir
    assert settings.embedded_pgdata == (data_dir / "pgdata").resolve()
    assert settings.observability.log_level == "DEBUG"


def test_unprefixed_names_are_not_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    # DATABASE_URL is the operators' name; VETCHART_DB_URL must not silently work instead.
    monkeypatch.setenv("VETCHART_DB_URL", "postgresql://wrong@h/d")

    assert Settings.load().database.url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VETCHART_PORT", "0"),
        ("VETCHART_PORT", "70000"),
        ("VETCHART_DB_POOL_SIZE", "0"),
        ("VETCHART_DB_POOL_TIMEOUT", "0"),
        ("VETCHART_ENV", "staging"),
    ],
)
def test_out_of_range_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        Settings.load()


def test_env_file_in_the_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "\n".join(
            [
                "VETCHART_ENV=test",
                "VETCHART_DB_POOL_SIZE=23",
                "VETCHART_CORS_ORIGINS=https://one.example,https://two.example",
                "DATABASE_URL=postgresql://from-dotenv@h/d",
                "REDIS_URL=redis://from-dotenv:6379/0",
                "VETCHART_PORT=8765",
                "VETCHART_JWT_SECRET=from-the-dotenv-file-0123456789abcdef",
                "",
            ]
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    settings = Settings.load()

    assert settings.env is Environment.TEST
    assert settings.database.pool_size == 23
    assert settings.cors.origins == ["https://one.example", "https://two.example"]
    assert settings.database.url == "postgresql://from-dotenv@h/d"
    assert settings.redis.url == "redis://from-dotenv:6379/0"
    assert settings.server.port == 8765
    assert settings.auth.jwt_secret.get_secret_value() == "from-the-dotenv-file-0123456789abcdef"


def test_environment_variables_win_over_the_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("VETCHART_DB_POOL_SIZE=23\nVETCHART_PORT=8765\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VETCHART_DB_POOL_SIZE", "4")

    settings = Settings.load()

    assert settings.database.pool_size == 4
    assert settings.server.port == 8765


def test_env_file_elsewhere_is_not_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".env").write_text("VETCHART_DB_POOL_SIZE=23\n")
    monkeypatch.chdir(tmp_path)

    assert Settings.load().database.pool_size == 10


def test_env_file_can_make_production_refuse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"VETCHART_ENV=production\nDATABASE_URL={GOOD_DB}\n")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ValidationError, match="VETCHART_JWT_SECRET"):
        Settings.load()


# --- derived values ---------------------------------------------------------------------


def test_docs_are_off_by_default_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)

    settings = Settings.load()

    assert settings.api.docs_enabled is None
    assert settings.docs_enabled is False


def test_docs_are_on_by_default_in_development() -> None:
    settings = Settings.load()

    assert settings.env is Environment.DEVELOPMENT
    assert settings.docs_enabled is True


def test_docs_can_be_switched_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETCHART_DOCS_ENABLED", "false")
    assert Settings.load().docs_enabled is False

    _production_env(monkeypatch)
    monkeypatch.setenv("VETCHART_DOCS_ENABLED", "true")
    assert Settings.load().docs_enabled is True


def test_log_format_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().log_json is False
    _production_env(monkeypatch)
    assert Settings.load().log_json is True
    monkeypatch.setenv("VETCHART_LOG_JSON", "false")
    assert Settings.load().log_json is False


def test_settings_are_immutable() -> None:
    settings = Settings.load()

    with pytest.raises(ValidationError):
        settings.debug = True  # type: ignore[misc]


# --- the command line ---------------------------------------------------------------------


def test_cli_refuses_unsafe_production_with_a_clean_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VETCHART_ENV", "production")

    with pytest.raises(typer.Exit) as caught:
        runtime.load_settings()

    assert caught.value.exit_code == 2
    # No chained pydantic error: the user sees the message, not a traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("vetchart: invalid configuration")
    for name in ("VETCHART_JWT_SECRET", "DATABASE_URL"):
        assert name in err
    assert "Traceback" not in err
    assert "Value error," not in err
    assert "errors.pydantic.dev" not in err


def test_cli_reports_an_invalid_value_by_its_place(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VETCHART_ENV", "nonsense")

    with pytest.raises(typer.Exit) as caught:
        runtime.load_settings()

    assert caught.value.exit_code == 2
    err = capsys.readouterr().err
    assert "vetchart: invalid configuration" in err
    assert "env:" in err
