"""Issue 13 item 2: least privilege for real, and an audit chain a database writer cannot
forge.

The attacks replayed here:
- the app's own connections: they log in as the plain application role (no owner or
  superuser session to RESET ROLE back to);
- a superuser rewrites an audit row and recomputes the plain SHA-256 chain after it (and
  the head): `audit verify` fails, because the hashes are HMACs under a key the database
  never holds;
- a key holder rewrites a row and recomputes the HMAC chain: `audit verify` alone passes,
  `audit verify --against` an earlier signed checkpoint fails; so does a chain cut short;
- a checkpoint altered, or signed with another key, is refused (exit 2);
- the CLI round trip: `audit checkpoint --out FILE|s3://...` (write-once), `audit verify
  --against` both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.conftest import make_settings
from vetchart.adapters.db.engine import libpq_conninfo, libpq_url
from vetchart.adapters.db.privileges import APP_ROLE
from vetchart.api.app import create_app
from vetchart.bootstrap import Container
from vetchart.config import AuditSettings
from vetchart.domain.audit import (
    AuditEntry,
    AuditKey,
    ChainedRow,
    Checkpoint,
    CheckpointError,
    Outcome,
    RequestMeta,
    chain_hash,
    legacy_chain_hash,
)
from vetchart.entrypoints.cli import app as cli

AUDIT_KEY = "an-audit-key-that-only-the-operators-hold-0123456789"
KEY = AuditKey(AUDIT_KEY.encode())

_HASHED = (
    "id, occurred_at, actor_id, actor_role, practice_id, pet_id, action, resource_type,"
    " resource_id, outcome, request_id, client_address, user_agent, details, chain, seq"
)


def _app(database_url: str) -> FastAPI:
    settings = make_settings(database_url, audit=AuditSettings(key=SecretStr(AUDIT_KEY)))
    return create_app(settings, database_url=database_url)


async def _write_audit_rows(app: FastAPI, count: int = 48) -> None:
    """Audit rows through the application's own writer, one unit of work each (each
    picks a chain at random: 48 over 16 chains leave some chain with several)."""
    container: Container = app.state.container
    for n in range(count):
        async with container.uow() as uow:
            uow.audit.record(
                AuditEntry(
                    action="pet.read",
                    resource_type="pet",
                    resource_id=str(n),
                    outcome=Outcome.SUCCESS,
                    details={"n": n},
                ),
                RequestMeta(request_id=f"r{n}"),
            )
            await uow.commit()


@pytest.fixture
async def keyed_app(database_url: str) -> AsyncIterator[FastAPI]:
    application = _app(database_url)
    async with LifespanManager(application):
        await _write_audit_rows(application)
        yield application


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def _superuser(database_url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(libpq_url(database_url))
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


async def _longest_chain(conn: asyncpg.Connection) -> int:
    chain = await conn.fetchval(
        "SELECT chain FROM audit_events GROUP BY chain ORDER BY count(*) DESC, chain LIMIT 1"
    )
    assert chain is not None
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE chain = $1", chain) >= 2
    return int(chain)


async def _rewrite_chain(
    conn: asyncpg.Connection, chain: int, rehash: Callable[[bytes, ChainedRow], bytes]
) -> None:
    """What a superuser can do: change entry 1's details, recompute every hash of the
    chain after it with ``rehash``, and move the head to match."""
    await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
    try:
        rows = await conn.fetch(
            f"SELECT {_HASHED} FROM audit_events WHERE chain = $1 ORDER BY seq",
            chain,
        )
        previous = bytes(32)
        for row in rows:
            values: dict[str, Any] = dict(row)
            if values["seq"] == 1:
                values["details"] = {**values["details"], "outcome_was": "rewritten"}
            digest = rehash(previous, ChainedRow(**values))
            await conn.execute(
                "UPDATE audit_events SET details = $1, prev_hash = $2, hash = $3 WHERE id = $4",
                values["details"],
                previous,
                digest,
                values["id"],
            )
            previous = digest
        await conn.execute(
            "UPDATE audit_chains SET seq = $1, hash = $2 WHERE chain = $3",
            len(rows),
            previous,
            chain,
        )
    finally:
        await conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")


async def test_every_connection_of_the_app_logs_in_as_the_application_role(
    keyed_app: FastAPI,
) -> None:
    container = _container(keyed_app)
    async with container.engine.connect() as conn:
        users = (await conn.exec_driver_sql("SELECT session_user, current_user")).one()
    assert tuple(users) == (APP_ROLE, APP_ROLE)
    rows = await container.fast_pool.fetch("SELECT session_user AS who")
    assert rows[0]["who"] == APP_ROLE
    # The worker's job queue (psycopg) logs in with the same URL.
    assert make_url(container.database_url).username == APP_ROLE
    async with await psycopg.AsyncConnection.connect(
        libpq_conninfo(container.database_url)
    ) as conn:
        cursor = await conn.execute("SELECT session_user")
        assert await cursor.fetchone() == (APP_ROLE,)


async def test_a_superuser_rewrite_with_recomputed_plain_hashes_fails_verification(
    keyed_app: FastAPI, database_url: str
) -> None:
    container = _container(keyed_app)
    assert (await container.verify_audit()).ok
    conn = await _superuser(database_url)
    try:
        chain = await _longest_chain(conn)
        # Plain SHA-256 over the canonical form, in both formats the code knows.
        await _rewrite_chain(conn, chain, legacy_chain_hash)
        report = await container.verify_audit()
        assert not report.ok
        assert [(link.chain, link.seq, link.reason) for link in report.broken] == [
            (chain, 1, "content does not match its hash")
        ]
        await _rewrite_chain(
            conn, chain, lambda prev, row: hashlib.sha256(prev + row.id.bytes).digest()
        )
        assert [link.chain for link in (await container.verify_audit()).broken] == [chain]
        # With the development default key (public) the forgery fails just the same.
        dev = AuditKey(AuditSettings().key.get_secret_value().encode())
        await _rewrite_chain(conn, chain, lambda prev, row: chain_hash(dev, prev, row))
        assert [link.chain for link in (await container.verify_audit()).broken] == [chain]
    finally:
        await conn.close()


async def test_a_rewrite_by_a_key_holder_is_caught_by_an_earlier_checkpoint(
    keyed_app: FastAPI, database_url: str
) -> None:
    container = _container(keyed_app)
    checkpoint_text = (await container.audit_checkpoint()).to_json(KEY)
    checkpoint = Checkpoint.from_json(checkpoint_text, KEY)
    assert (await container.verify_audit([checkpoint])).ok
    conn = await _superuser(database_url)
    try:
        chain = await _longest_chain(conn)
        await _rewrite_chain(conn, chain, lambda prev, row: chain_hash(KEY, prev, row))
    finally:
        await conn.close()
    # The chain is consistent again under the key: only the checkpoint can tell.
    assert (await container.verify_audit()).ok
    report = await container.verify_audit([checkpoint])
    assert [link.chain for link in report.broken] == [chain]
    assert "rewritten" in report.broken[0].reason


async def test_a_chain_cut_short_below_a_checkpoint_is_caught(
    keyed_app: FastAPI, database_url: str
) -> None:
    container = _container(keyed_app)
    checkpoint = Checkpoint.from_json((await container.audit_checkpoint()).to_json(KEY), KEY)
    conn = await _superuser(database_url)
    try:
        chain = await _longest_chain(conn)
        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        last = await conn.fetchrow(
            "DELETE FROM audit_events WHERE chain = $1 AND seq = "
            "(SELECT max(seq) FROM audit_events WHERE chain = $1) RETURNING seq, prev_hash",
            chain,
        )
        assert last is not None
        await conn.execute(
            "UPDATE audit_chains SET seq = $1, hash = $2 WHERE chain = $3",
            last["seq"] - 1,
            last["prev_hash"],
            chain,
        )
        await conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
    finally:
        await conn.close()
    assert (await container.verify_audit()).ok  # a shorter chain is still a chain
    report = await container.verify_audit([checkpoint])
    assert [(link.chain, "missing" in link.reason) for link in report.broken] == [(chain, True)]


async def test_a_checkpoint_altered_or_signed_with_another_key_is_refused(
    keyed_app: FastAPI,
) -> None:
    text = (await _container(keyed_app).audit_checkpoint()).to_json(KEY)
    document = json.loads(text)
    document["heads"][0]["seq"] += 1
    with pytest.raises(CheckpointError, match="signature"):
        Checkpoint.from_json(json.dumps(document), KEY)
    with pytest.raises(CheckpointError, match="signature"):
        Checkpoint.from_json(text, AuditKey(b"another-key-" * 4))
    with pytest.raises(CheckpointError, match=r"unreadable|not a"):
        Checkpoint.from_json('{"format": "something else"}', KEY)
    assert Checkpoint.from_json(text, KEY).heads  # the original still verifies


def _cli(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.fixture
def s3_bucket() -> Iterator[dict[str, str]]:
    """A local S3 (moto in server mode on loopback) with one bucket; the settings that
    reach it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        env = {
            "VETCHART_S3_ENDPOINT_URL": endpoint,
            "VETCHART_S3_REGION": "us-east-1",
            "VETCHART_S3_ACCESS_KEY_ID": "testing",
            "VETCHART_S3_SECRET_ACCESS_KEY": "testing",
            "VETCHART_S3_FORCE_PATH_STYLE": "true",
        }
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="checkpoints")
        yield env
    finally:
        server.stop()


def test_the_cli_checkpoints_and_verifies_against_files_and_s3(
    database_url: str, tmp_path: Path, s3_bucket: dict[str, str]
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VETCHART_")},
        **s3_bucket,
        "DATABASE_URL": database_url,
        "VETCHART_AUDIT_KEY": AUDIT_KEY,
        "VETCHART_DATA_DIR": str(tmp_path / "data"),
        "VETCHART_ENV": "test",
    }

    async def some_rows() -> None:
        application = _app(database_url)
        async with LifespanManager(application):
            await _write_audit_rows(application)

    asyncio.run(some_rows())
    printed = _cli(["audit", "checkpoint"], env)
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["format"] == "vetchart-audit-checkpoint/1"
    out = tmp_path / "checkpoint.json"
    s3 = "s3://checkpoints/vetchart/first.json"
    for location in (str(out), s3):
        made = _cli(["audit", "checkpoint", "--out", location], env)
        assert made.exit_code == 0, made.output
    document = json.loads(out.read_text())
    assert any(head["seq"] > 0 for head in document["heads"])
    # Checkpoints are write-once: neither a file nor an S3 object is replaced.
    for location in (str(out), s3):
        again = _cli(["audit", "checkpoint", "--out", location], env)
        assert again.exit_code == 2, again.output

    for location in (str(out), s3):
        verified = _cli(["audit", "verify", "--against", location], env)
        assert verified.exit_code == 0, verified.output
        assert verified.output.rstrip().endswith(": ok")

    wrong_key = _cli(
        ["audit", "verify", "--against", str(out)], {**env, "VETCHART_AUDIT_KEY": "x" * 40}
    )
    # A process with another key refuses to work on this chain at all.
    assert wrong_key.exit_code == 2
    assert "is not the key this database's audit chain is keyed with" in wrong_key.output
    missing = _cli(["audit", "verify", "--against", "s3://checkpoints/none.json"], env)
    assert missing.exit_code == 2

    async def rewrite() -> None:
        conn = await _superuser(database_url)
        try:
            chain = await _longest_chain(conn)
            await _rewrite_chain(conn, chain, lambda prev, row: chain_hash(KEY, prev, row))
        finally:
            await conn.close()

    asyncio.run(rewrite())
    assert _cli(["audit", "verify"], env).exit_code == 0
    for location in (str(out), s3):
        caught = _cli(["audit", "verify", "--against", location], env)
        assert caught.exit_code == 1
        assert "rewritten" in caught.output
    # Several checkpoints at once: each one's heads are checked.
    both = _cli(["audit", "verify", "--against", str(out), "--against", s3], env)
    assert both.exit_code == 1
    assert both.output.count("rewritten") == 2
