"""Shared helpers of the knowledge-base API tests: an app whose files go to a temporary
folder, uploads through the real multipart route, ingestion by delivering the outbox as
the worker does, and questions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select

from tests.api.auth_helpers import ADMIN, API, cheap_auth, running_app
from tests.conftest import make_settings
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import kb_chunks, kb_documents
from vetchart.config import Settings, StorageSettings
from vetchart.demo_kb import demo_documents

KB = f"{API}/kb"
DOCUMENT_FIELDS = {
    "id",
    "title",
    "state",
    "chunk_count",
    "error",
    "species",
    "symptoms",
    "body_system",
    "audience",
    "doc_type",
    "source_url",
}
ANSWER_FIELDS = {"answer", "sources", "mode", "degraded", "timings_ms"}
SOURCE_FIELDS = {"n", "document_id", "title", "chunk_index", "score", "excerpt", "source_url"}


def kb_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Test settings with the files under ``data_dir`` (never the working directory)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "auth": cheap_auth(),
        "storage": StorageSettings(files_dir=data_dir / "files"),
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@asynccontextmanager
async def kb_world(settings: Settings, database_url: str) -> AsyncIterator[World]:
    """An app with these settings, the demo users, and signed-in callers on demand."""
    async with running_app(settings, database_url) as (app, client):
        yield await start(app, client)


async def upload(
    world: World,
    filename: str,
    content: bytes,
    content_type: str = "text/markdown",
    *,
    email: str = ADMIN,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """POST /kb/documents as multipart (form fields first, as clients send them)."""
    caller = await world.h(email) if email else {}
    return await world.client.post(
        f"{KB}/documents",
        data=fields or {},
        files={"file": (filename, content, content_type)},
        headers={**caller, **(headers or {})},
    )


async def upload_ok(world: World, filename: str, content: bytes, **kwargs: Any) -> dict[str, Any]:
    response = await upload(world, filename, content, **kwargs)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def ingest_demo_set(world: World) -> dict[str, str]:
    """The 12 demo documents uploaded through the API and ingested (the worker's way);
    returns document id by file name."""
    ids: dict[str, str] = {}
    for document in demo_documents():
        body = await upload_ok(world, document.filename, document.text.encode("utf-8"))
        ids[document.filename] = body["id"]
    await world.deliver_events()
    return ids


async def document(world: World, document_id: str, email: str = ADMIN) -> dict[str, Any]:
    response = await world.client.get(f"{KB}/documents/{document_id}", headers=await world.h(email))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ask(world: World, question: str, email: str = ADMIN, **body: Any) -> Response:
    return await world.client.post(
        f"{KB}/query", json={"question": question, **body}, headers=await world.h(email)
    )


async def ask_ok(world: World, question: str, email: str = ADMIN, **body: Any) -> dict[str, Any]:
    response = await ask(world, question, email, **body)
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    assert set(answer) == ANSWER_FIELDS, answer
    for source in answer["sources"]:
        assert set(source) == SOURCE_FIELDS, source
    assert [s["n"] for s in answer["sources"]] == list(range(1, len(answer["sources"]) + 1))
    return answer


async def count_rows(app: FastAPI, table: Any, *conditions: Any) -> int:
    query = select(func.count()).select_from(table).where(*conditions)
    async with app.state.container.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def chunk_rows(app: FastAPI, document_id: str) -> list[dict[str, Any]]:
    query = (
        select(kb_chunks)
        .where(kb_chunks.c.document_id == document_id)
        .order_by(kb_chunks.c.chunk_index)
    )
    async with app.state.container.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def document_count(app: FastAPI) -> int:
    return await count_rows(app, kb_documents)


def stored_files(data_dir: Path) -> list[Path]:
    folder = data_dir / "files"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def client_headers(client: AsyncClient) -> dict[str, str]:
    return dict(client.headers)
