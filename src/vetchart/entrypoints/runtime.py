"""Shared start-up for the command-line entrypoints: settings, logging, the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError

from vetchart.adapters.db.embedded import EmbeddedPostgres
from vetchart.adapters.observability.logging import configure_logging
from vetchart.config import Settings


def load_settings() -> Settings:
    """Settings from the environment; a refusal ends the process with a clear message."""
    try:
        settings = Settings.load()
    except ValidationError as error:
        lines = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ())) or "settings"
            message = str(item.get("msg", "")).removeprefix("Value error, ")
            lines.append(f"  {where}: {message}")
        typer.echo("vetchart: invalid configuration\n" + "\n".join(lines), err=True)
        raise typer.Exit(code=2) from None
    configure_logging(level=settings.observability.log_level, json=settings.log_json)
    return settings


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """``DATABASE_URL`` when set; otherwise the embedded PostgreSQL of the data folder,
    started (or joined) for the duration of the block and stopped when last out."""
    if settings.database.url is not None:
        yield settings.database.url
        return
    with EmbeddedPostgres(settings.embedded_pgdata) as server:
        yield server.url()


@contextmanager
def migration_url(settings: Settings) -> Iterator[str]:
    """Where migrations run: ``MIGRATION_DATABASE_URL`` (the schema owner) when set, else
    the same database as the application."""
    if settings.database.migration_url is not None:
        yield settings.database.migration_url
        return
    with database_url(settings) as url:
        yield url
