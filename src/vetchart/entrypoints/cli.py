"""The ``vetchart`` command line (typer)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import structlog
import typer
import uvicorn

from vetchart.adapters.db import migrate
from vetchart.domain.errors import DomainError
from vetchart.entrypoints.runtime import database_url, load_settings

log = structlog.get_logger("vetchart.cli")

app = typer.Typer(
    name="vetchart",
    help="vetchart: the veterinary practice platform backend.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for local use.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: VETCHART_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: VETCHART_PORT).")] = None,
) -> None:
    """Serve the HTTP API (starts the embedded PostgreSQL when DATABASE_URL is unset)."""
    from vetchart.api.app import create_app

    settings = load_settings()
    bind_host = host or settings.server.host
    bind_port = port or settings.server.port
    with database_url(settings) as url:
        application = create_app(settings, database_url=url)
        proxies = settings.server.trusted_proxies
        config = uvicorn.Config(
            application,
            host=bind_host,
            port=bind_port,
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=True,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=",".join(proxies) if proxies else None,
            timeout_graceful_shutdown=settings.server.graceful_shutdown_seconds,
            lifespan="on",
        )
        log.info("serve.listening", url=f"http://{bind_host}:{bind_port}")
        try:
            uvicorn.Server(config).run()
        finally:
            log.info("serve.stopped")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    settings = load_settings()
    with database_url(settings) as url:
        migrate.upgrade(url, revision)
    typer.echo(f"database upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, -1 for one step, or base.")
    ] = "-1",
) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    settings = load_settings()
    with database_url(settings) as url:
        migrate.downgrade(url, revision)
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
def db_current(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show details.")] = False,
) -> None:
    """Show the schema's current revision."""
    settings = load_settings()
    with database_url(settings) as url:
        migrate.current(url, verbose=verbose)


@demo_app.command("seed")
def demo_seed() -> None:
    """Load the demo data set (idempotent). Refused in production."""
    from vetchart.entrypoints.demo import seed

    settings = load_settings()
    if settings.is_production:
        typer.echo("vetchart: demo data is never loaded in production", err=True)
        raise typer.Exit(code=2)
    with database_url(settings) as url:
        summary = asyncio.run(seed(settings, url))
    for line in summary:
        typer.echo(line)


@users_app.command("create-admin")
def users_create_admin(
    email: Annotated[str, typer.Option("--email", help="The admin's email (sign-in name).")],
    full_name: Annotated[str, typer.Option("--full-name", help="The admin's full name.")],
) -> None:
    """Create a SYSTEM_ADMIN. The password is asked for, or read from
    VETCHART_ADMIN_PASSWORD when set (for automation)."""
    from vetchart.entrypoints.admin import create_admin

    settings = load_settings()
    password = os.environ.get("VETCHART_ADMIN_PASSWORD")
    if not password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with database_url(settings) as url:
        try:
            user_id = asyncio.run(create_admin(settings, url, email, full_name, password))
        except DomainError as error:
            typer.echo(f"vetchart: {error.detail}", err=True)
            raise typer.Exit(code=1) from None
    typer.echo(f"created SYSTEM_ADMIN {email} ({user_id})")


def main() -> None:
    app()
