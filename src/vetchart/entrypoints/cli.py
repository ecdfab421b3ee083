"""The ``vetchart`` command line (typer)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import structlog
import typer
import uvicorn

from vetchart.adapters.db import migrate
from vetchart.config import ConfigurationError, ServerSettings
from vetchart.domain.errors import DomainError
from vetchart.entrypoints.http_limits import limited_httptools
from vetchart.entrypoints.runtime import database_url, load_settings, migration_url

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
worker_app = typer.Typer(
    help="The background worker: delivers domain events and runs jobs (procrastinate).",
    invoke_without_command=True,
)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
app.add_typer(worker_app, name="worker")
app.add_typer(audit_app, name="audit")
kb_app = typer.Typer(
    help="The knowledge base: ingest reference documents, ask questions.", no_args_is_help=True
)
app.add_typer(kb_app, name="kb")


def uvicorn_config(
    application: Any, server: ServerSettings, *, host: str, port: int
) -> uvicorn.Config:
    """How ``serve`` runs uvicorn: proxies, shutdown, and the slow-client limits of
    ``ServerSettings`` (``entrypoints/http_limits.py``)."""
    proxies = server.trusted_proxies
    return uvicorn.Config(
        application,
        host=host,
        port=port,
        http=limited_httptools(
            head_timeout=server.header_timeout_seconds,
            body_idle_timeout=server.body_idle_timeout_seconds,
            max_head_bytes=server.max_header_bytes,
        ),
        # Only used if the h11 parser is chosen instead; the same head limit.
        h11_max_incomplete_event_size=server.max_header_bytes,
        timeout_keep_alive=server.keep_alive_seconds,
        limit_concurrency=server.limit_concurrency,
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=True,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=",".join(proxies) if proxies else None,
        timeout_graceful_shutdown=server.graceful_shutdown_seconds,
        lifespan="on",
    )


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
        application = create_app(settings, database_url=url, tune_gc=True)
        config = uvicorn_config(application, settings.server, host=bind_host, port=bind_port)
        log.info("serve.listening", url=f"http://{bind_host}:{bind_port}")
        run_server(config)


def run_server(config: uvicorn.Config) -> None:
    """Run uvicorn until it is stopped; a SIGTERM then unwinds the caller's ``with``
    blocks (the embedded PostgreSQL stops) and exits with status 0.

    uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler that
    was there before it started; the default one ends the process on the spot, which left
    the embedded PostgreSQL running. Here that handler raises ``SystemExit(0)`` instead."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_cleanly) if main_thread else None
    try:
        uvicorn.Server(config).run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        log.info("serve.stopped")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    settings = load_settings()
    audit_key = settings.audit.key.get_secret_value()
    with migration_url(settings) as url:
        migrate.upgrade(url, revision, audit_key=audit_key)
        password = settings.database.app_password
        if password is not None and settings.database.app_role:
            migrate.set_role_password(url, settings.database.app_role, password.get_secret_value())
    typer.echo(f"database upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, -1 for one step, or base.")
    ] = "-1",
) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    settings = load_settings()
    with migration_url(settings) as url:
        migrate.downgrade(url, revision, audit_key=settings.audit.key.get_secret_value())
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
def db_current(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show details.")] = False,
) -> None:
    """Show the schema's current revision."""
    settings = load_settings()
    with migration_url(settings) as url:
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


@worker_app.callback()
def worker(ctx: typer.Context) -> None:
    """Run a worker until SIGINT/SIGTERM (any number may run, on any machine)."""
    if ctx.invoked_subcommand is not None:
        return
    from vetchart.entrypoints.background import work

    settings = load_settings()
    with database_url(settings) as url:
        log.info("worker.starting", concurrency=settings.worker.concurrency)
        asyncio.run(work(settings, url))
    log.info("worker.stopped")


@worker_app.command("status")
def worker_status() -> None:
    """Jobs per queue and state (failed jobs stay until retried)."""
    from rich.console import Console
    from rich.table import Table

    from vetchart.entrypoints.background import job_counts

    settings = load_settings()
    with database_url(settings) as url:
        counts = asyncio.run(job_counts(settings, url))
    table = Table("queue", "state", "jobs")
    for (queue, state), count in sorted(counts.items()):
        table.add_row(queue, state, str(count))
    Console().print(table if counts else "no jobs")


@worker_app.command("retry")
def worker_retry(job_id: Annotated[int, typer.Argument(help="The failed job's id.")]) -> None:
    """Send a failed job back to the queue."""
    from vetchart.entrypoints.background import retry_job

    settings = load_settings()
    with database_url(settings) as url:
        asyncio.run(retry_job(settings, url, job_id))
    typer.echo(f"job {job_id} queued again")


@audit_app.command("verify")
def audit_verify(
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="A signed checkpoint (`audit checkpoint`): a file path or s3://BUCKET/KEY; "
            "repeat it for several (verify against every one you retain, not only the "
            "newest). Every head each recorded must still be in its chain, unchanged.",
        ),
    ] = None,
) -> None:
    """Walk every audit hash chain (HMAC-SHA-256 under VETCHART_AUDIT_KEY); exit 1 naming
    the first broken link of each chain, or a checkpoint the chains no longer match."""
    from vetchart.adapters.storage.checkpoints import CheckpointLocationError
    from vetchart.domain.audit import CheckpointError
    from vetchart.entrypoints.background import verify

    settings = load_settings()
    with database_url(settings) as url:
        try:
            report = asyncio.run(verify(settings, url, against or []))
        except ConfigurationError as error:  # e.g. an audit key the chain is not keyed with
            typer.echo(str(error), err=True)
            raise typer.Exit(code=2) from error
        except (CheckpointError, CheckpointLocationError, OSError) as error:
            typer.echo(f"checkpoint: {error}", err=True)
            raise typer.Exit(code=2) from error
    for other in report.other_databases:
        typer.echo(f"note: a checkpoint was taken on database {other!r}, not this one")
    for link in report.broken:
        row = f" (audit event {link.row_id})" if link.row_id else ""
        typer.echo(f"BROKEN chain {link.chain} at entry {link.seq}{row}: {link.reason}")
    typer.echo(
        f"checked {report.checked} audit events in {report.chains} chains: "
        + ("ok" if report.ok else f"{len(report.broken)} chain(s) broken")
    )
    if not report.ok:
        raise typer.Exit(code=1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Write it to a new file, or to s3://BUCKET/KEY (never overwritten; S3 "
            "through the VETCHART_S3_* endpoint and credentials). Else standard output.",
        ),
    ] = None,
) -> None:
    """Export the heads of every audit chain, signed with a key derived from
    VETCHART_AUDIT_KEY. Keep checkpoints outside the database (a write-once bucket):
    `audit verify --against` then detects any chain rewritten since."""
    from vetchart.adapters.storage.checkpoints import CheckpointLocationError
    from vetchart.entrypoints.background import checkpoint

    settings = load_settings()
    with database_url(settings) as url:
        try:
            text = asyncio.run(checkpoint(settings, url, out))
        except (ConfigurationError, CheckpointLocationError, OSError) as error:
            typer.echo(f"checkpoint not written: {error}", err=True)
            raise typer.Exit(code=2) from error
    if out is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"checkpoint written to {out}", err=True)


@kb_app.command("ingest")
def kb_ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Markdown, text or PDF files, or folders of them.", exists=True, readable=True
        ),
    ],
) -> None:
    """Ingest documents now (no worker needed); unchanged ones are left alone, changed
    ones replace their chunks. Exit 1 when any did not end ingested."""
    from rich.console import Console

    from vetchart.entrypoints.kb import ingest, print_ingest

    settings = load_settings()
    console = Console()
    with database_url(settings) as url:
        lines = asyncio.run(ingest(settings, url, paths, console))
    if not print_ingest(lines, console):
        raise typer.Exit(code=1)


@kb_app.command("query")
def kb_query(
    question: Annotated[str, typer.Argument(help="The question, in plain words.")],
    max_sources: Annotated[int, typer.Option(min=1, max=20, help="Sources to use.")] = 5,
    species: Annotated[list[str] | None, typer.Option(help="Only these species.")] = None,
    symptoms: Annotated[list[str] | None, typer.Option(help="Only these symptoms.")] = None,
    body_system: Annotated[str | None, typer.Option(help="Only this body system.")] = None,
    audience: Annotated[str | None, typer.Option(help="expert or pet-owner.")] = None,
    doc_type: Annotated[str | None, typer.Option(help="Only this document type.")] = None,
) -> None:
    """Ask the knowledge base; prints the answer and its numbered sources."""
    from rich.console import Console

    from vetchart.domain.kb.labels import LabelFilter
    from vetchart.entrypoints.kb import ask, print_answer

    settings = load_settings()
    try:
        filters = LabelFilter.build(
            species=species or (),
            symptoms=symptoms or (),
            body_system=body_system,
            audience=audience,
            doc_type=doc_type,
        )
        with database_url(settings) as url:
            answer = asyncio.run(
                ask(settings, url, question, filters=filters, max_sources=max_sources)
            )
    except DomainError as error:
        typer.echo(f"vetchart: {error.detail}", err=True)
        raise typer.Exit(code=1) from None
    print_answer(answer, Console())


def main() -> None:
    app()
