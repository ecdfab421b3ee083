"""The application logs in as its own role at DATABASE_URL's host and database."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from vetchart.adapters.db.engine import app_login_url
from vetchart.config import DatabaseSettings


def _parts(url: str) -> tuple[str | None, str | None, str | None, str | None]:
    parsed = make_url(url)
    return parsed.username, parsed.password, parsed.host, parsed.database


def test_the_owner_in_database_url_is_replaced_by_the_app_role() -> None:
    url = app_login_url(
        "postgresql://postgres:owner-secret@db.example:5432/vet", DatabaseSettings()
    )
    # The owner's password is not sent for another user.
    assert _parts(url) == ("vetchart_app", None, "db.example", "vet")


def test_the_app_password_setting_is_used() -> None:
    settings = DatabaseSettings(app_password=SecretStr("app-secret"))
    url = app_login_url("postgresql://postgres:owner-secret@db.example/vet", settings)
    assert _parts(url) == ("vetchart_app", "app-secret", "db.example", "vet")


def test_a_url_already_naming_the_app_role_keeps_its_password() -> None:
    url = app_login_url("postgresql://vetchart_app:app-secret@db.example/vet", DatabaseSettings())
    assert _parts(url) == ("vetchart_app", "app-secret", "db.example", "vet")


def test_the_socket_of_the_embedded_server_is_kept() -> None:
    url = app_login_url(
        "postgresql+asyncpg://postgres@/vetchart?host=/run/vetchart-pg", DatabaseSettings()
    )
    parsed = make_url(url)
    assert (parsed.username, parsed.query["host"], parsed.database) == (
        "vetchart_app",
        "/run/vetchart-pg",
        "vetchart",
    )


def test_an_empty_app_role_leaves_the_url_alone() -> None:
    url = "postgresql://someone:pw@db.example/vet"
    assert app_login_url(url, DatabaseSettings(app_role="")) == url
