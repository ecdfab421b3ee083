"""Knowledge-base documents: uploads (markdown, text, PDF) ingested by the job, labels
from the form and the front matter, re-ingestion replacing chunks, deletion hiding at
once, corrupt files ending failed with nothing indexed, refused uploads storing nothing,
and the command line's ingestion and questions."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from typer.testing import CliRunner

from tests.api.auth_helpers import ADMIN, audit_rows
from tests.api.clients_helpers import assert_problem
from tests.api.kb_helpers import (
    DOCUMENT_FIELDS,
    KB,
    ask_ok,
    chunk_rows,
    document,
    document_count,
    kb_settings,
    kb_world,
    stored_files,
    upload,
    upload_ok,
)
from tests.conftest import make_settings
from tests.fixtures.world import World
from tests.unit.kb.pdf_builder import make_pdf
from vetchart.adapters.db.tables import kb_documents
from vetchart.config import StorageSettings
from vetchart.entrypoints.cli import app as cli_app
from vetchart.entrypoints.kb import ask, ingest, print_answer, print_ingest

GUIDE_V1 = b"""---
title: Rabbit dental disease
species: [rabbit]
symptoms: drooling, weight loss
body_system: dental
audience: pet-owner
doc_type: condition
source_url: https://example.org/rabbit-teeth
---

# Rabbit dental disease

Rabbit teeth grow continuously, so a diet rich in hay wears them down. Overgrown molars
form sharp spurs that cut the tongue and cheeks.

## Signs

Drooling, a wet chin, dropping food and weight loss are early signs of molar spurs.
"""

GUIDE_V2 = b"""---
title: Rabbit dental disease
species: [rabbit]
---

# Rabbit dental disease

Incisor malocclusion is corrected by burring under sedation every few weeks.
"""

PDF_LINES = [
    ["Ferret adrenal disease", "Ferrets with adrenal disease lose hair on the tail."],
    ["Treatment uses a deslorelin implant under the skin."],
]


async def _stored_type(world: World, document_id: str) -> str | None:
    async with world.app.state.container.engine.connect() as conn:
        row = (
            (await conn.execute(kb_documents.select().where(kb_documents.c.id == document_id)))
            .mappings()
            .one()
        )
    stored = await world.app.state.container.storage.stat(row["object_key"])
    assert stored is not None
    assert stored.content_type == row["media_type"]
    return str(row["media_type"])


async def test_uploads_are_stored_then_ingested_by_the_job(
    database_url: str, tmp_path: Path
) -> None:
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        response = await upload(
            world,
            "rabbit-teeth.md",
            GUIDE_V1,
            "application/octet-stream",
            fields={
                "title": "Dental disease in rabbits",
                "species": ["rabbit", "guinea pig"],
                "audience": "expert",
            },
        )
        assert response.status_code == 202, response.text
        markdown = response.json()
        assert set(markdown) == DOCUMENT_FIELDS
        assert response.headers["location"] == f"{KB}/documents/{markdown['id']}"
        assert markdown["state"] == "pending"
        assert markdown["chunk_count"] == 0
        assert markdown["title"] == "Dental disease in rabbits"
        assert markdown["species"] == ["rabbit", "guinea pig"]
        assert markdown["audience"] == "expert"
        # Markdown is sniffed as text and kept as markdown by its name; PDF by its bytes.
        assert await _stored_type(world, markdown["id"]) == "text/markdown"
        pdf = await upload_ok(world, "ferrets.pdf", make_pdf(PDF_LINES), content_type="text/plain")
        assert await _stored_type(world, pdf["id"]) == "application/pdf"
        text = await upload_ok(
            world, "notes.txt", b"Guinea pigs need vitamin C every day.", content_type="text/plain"
        )
        assert await _stored_type(world, text["id"]) == "text/plain"
        created = await audit_rows(world.app, "kb_document.create")
        assert {row["resource_id"] for row in created} == {markdown["id"], pdf["id"], text["id"]}
        assert all(row["outcome"] == "success" for row in created)

        assert await world.deliver_events() == 3
        markdown = await document(world, markdown["id"])
        assert markdown["state"] == "ingested", markdown
        assert markdown["chunk_count"] == len(await chunk_rows(world.app, markdown["id"])) >= 2
        # The form wins; what it left out comes from the front matter.
        assert markdown["title"] == "Dental disease in rabbits"
        assert markdown["audience"] == "expert"
        assert markdown["species"] == ["rabbit", "guinea pig"]
        assert markdown["symptoms"] == ["drooling", "weight loss"]
        assert markdown["body_system"] == "dental"
        assert markdown["doc_type"] == "condition"
        assert markdown["source_url"] == "https://example.org/rabbit-teeth"
        pdf = await document(world, pdf["id"])
        assert pdf["state"] == "ingested", pdf
        assert pdf["title"] == "Ferrets"  # no title anywhere: from the file name
        assert (await document(world, text["id"]))["state"] == "ingested"
        ingested = await audit_rows(world.app, "kb_document.ingest")
        assert len(ingested) == 3
        assert all(row["details"]["source"] == "worker" for row in ingested)

        answer = await ask_ok(world, "How is ferret adrenal disease treated?")
        assert answer["sources"][0]["document_id"] == pdf["id"]
        assert "deslorelin" in answer["answer"]
        answer = await ask_ok(world, "Why do rabbits drool?", species=["rabbit"])
        assert {s["document_id"] for s in answer["sources"]} == {markdown["id"]}
        assert answer["sources"][0]["source_url"] == "https://example.org/rabbit-teeth"
        # Delivered again (at least once): each handler acts once.
        assert await world.deliver_events() == 0
        chunks = await chunk_rows(world.app, markdown["id"])
        await world.app.state.container.delivery.deliver((await _event_ids(world))[0])
        assert await chunk_rows(world.app, markdown["id"]) == chunks


async def _event_ids(world: World) -> list[Any]:
    from sqlalchemy import select

    from vetchart.adapters.db.tables import outbox_events

    async with world.app.state.container.engine.connect() as conn:
        query = select(outbox_events.c.id).order_by(outbox_events.c.occurred_at)
        return [row.id for row in await conn.execute(query)]


async def test_reingesting_a_changed_file_replaces_its_chunks(
    database_url: str, tmp_path: Path
) -> None:
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        service = world.app.state.container.kb_documents
        first = await service.ingest_bytes(GUIDE_V1, "rabbit-teeth.md")
        assert first.action == "created"
        document_id = str(first.document.id)
        old_chunks = await chunk_rows(world.app, document_id)
        assert first.document.chunk_count == len(old_chunks) >= 2
        assert (await ask_ok(world, "molar spurs drooling"))["sources"]

        again = await service.ingest_bytes(GUIDE_V1, "rabbit-teeth.md")
        assert again.action == "unchanged"
        assert await chunk_rows(world.app, document_id) == old_chunks

        changed = await service.ingest_bytes(GUIDE_V2, "rabbit-teeth.md")
        assert changed.action == "replaced"
        assert str(changed.document.id) == document_id
        new_chunks = await chunk_rows(world.app, document_id)
        assert len(new_chunks) == changed.document.chunk_count == 1
        assert {c["id"] for c in new_chunks}.isdisjoint({c["id"] for c in old_chunks})
        assert "burring" in new_chunks[0]["text"]
        assert (await ask_ok(world, "molar spurs"))["sources"] == []
        assert (await ask_ok(world, "incisor burring"))["sources"][0]["document_id"] == document_id
        # Labels follow the new front matter; the replaced file is gone from storage.
        assert (await document(world, document_id))["symptoms"] == []
        assert await document_count(world.app) == 1
        assert len(stored_files(tmp_path)) == 2  # one object and its metadata
        replaced = await audit_rows(world.app, "kb_document.replace")
        assert [row["resource_id"] for row in replaced] == [document_id]


async def test_deleting_hides_the_document_at_once(database_url: str, tmp_path: Path) -> None:
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        created = await upload_ok(world, "rabbit-teeth.md", GUIDE_V1)
        await world.deliver_events()
        assert (await ask_ok(world, "molar spurs"))["sources"]
        headers = await world.h(ADMIN)

        response = await world.client.delete(f"{KB}/documents/{created['id']}", headers=headers)
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert (await ask_ok(world, "molar spurs"))["sources"] == []
        assert_problem(
            await world.client.get(f"{KB}/documents/{created['id']}", headers=headers), 404
        )
        assert await chunk_rows(world.app, created["id"]) == []
        assert stored_files(tmp_path) == []
        rows = await audit_rows(world.app, "kb_document.delete")
        assert [(r["resource_id"], r["outcome"]) for r in rows] == [(created["id"], "success")]
        assert await world.deliver_events() == 1  # the purge: nothing left to remove
        response = await world.client.delete(f"{KB}/documents/{created['id']}", headers=headers)
        assert_problem(response, 404)


async def test_a_corrupt_pdf_ends_failed_with_a_reason_and_nothing_indexed(
    database_url: str, tmp_path: Path
) -> None:
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        corrupt = make_pdf(PDF_LINES)[:150]
        created = await upload_ok(world, "broken.pdf", corrupt, content_type="application/pdf")
        await world.deliver_events()
        failed = await document(world, created["id"])
        assert failed["state"] == "failed"
        assert "damaged" in failed["error"]
        assert failed["chunk_count"] == 0
        assert await chunk_rows(world.app, created["id"]) == []
        # A good document replaced by a broken version: its old chunks go too.
        service = world.app.state.container.kb_documents
        good = await service.ingest_bytes(make_pdf(PDF_LINES), "ferrets.pdf")
        assert good.document.chunk_count > 0
        broken = await service.ingest_bytes(corrupt, "ferrets.pdf")
        assert broken.document.state.value == "failed"
        assert await chunk_rows(world.app, str(good.document.id)) == []
        assert (await ask_ok(world, "ferret adrenal deslorelin"))["sources"] == []
        listed = await world.client.get(
            f"{KB}/documents?state=failed", headers=await world.h(ADMIN)
        )
        assert len(listed.json()["items"]) == 2


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "xyzBOUNDARY") -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


async def test_refused_uploads_store_nothing(database_url: str, tmp_path: Path) -> None:
    settings = kb_settings(
        database_url,
        tmp_path,
        storage=StorageSettings(files_dir=tmp_path / "files", max_kb_document_bytes=4096),
    )
    async with kb_world(settings, database_url) as world:
        headers = await world.h(ADMIN)

        async def refused(response: Any, status: int, suffix: str | None = None) -> dict[str, Any]:
            body = assert_problem(response, status, suffix)
            assert stored_files(tmp_path) == []
            assert await document_count(world.app) == 0
            return body

        big = b"# Big\n\n" + b"word " * 2000
        body = await refused(await upload(world, "big.md", big), 413, "file-too-large")
        assert body["max_bytes"] == 4096
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
        body = await refused(await upload(world, "x.md", png), 415, "unsupported-media-type")
        assert body["detected_type"] == "image/png"
        assert "text/markdown" in body["allowed_types"]
        await refused(await upload(world, "x.md", b"<html><script>x</script></html>"), 415)
        await refused(await upload(world, "empty.md", b""), 422)
        await refused(await upload(world, "x.md", b"# Fine", fields={"audience": "everyone"}), 422)
        await refused(await upload(world, "x.md", b"# Fine", fields={"colour": "red"}), 422)
        await refused(
            await upload(world, "x.md", b"# Fine", fields={"source_url": "javascript:x"}), 422
        )
        no_file = await world.client.post(
            f"{KB}/documents", data={"title": "No file"}, files={}, headers=headers
        )
        await refused(no_file, 415)  # a form without a file is not even multipart
        await refused(
            await world.client.post(
                f"{KB}/documents",
                content=_multipart([("title", None, b"Only a title")]),
                headers={**headers, "content-type": "multipart/form-data; boundary=xyzBOUNDARY"},
            ),
            422,
        )
        # A bad field after the file: the stored file is removed again.
        late = _multipart([("file", "x.md", b"# Fine\n\nText."), ("audience", None, b"all")])
        await refused(
            await world.client.post(
                f"{KB}/documents",
                content=late,
                headers={**headers, "content-type": "multipart/form-data; boundary=xyzBOUNDARY"},
            ),
            422,
        )
        two = _multipart([("file", "a.md", b"# A"), ("file", "b.md", b"# B")])
        await refused(
            await world.client.post(
                f"{KB}/documents",
                content=two,
                headers={**headers, "content-type": "multipart/form-data; boundary=xyzBOUNDARY"},
            ),
            422,
        )
        truncated = _multipart([("file", "x.md", b"# Fine\n\nText.")])[:-30]
        await refused(
            await world.client.post(
                f"{KB}/documents",
                content=truncated,
                headers={**headers, "content-type": "multipart/form-data; boundary=xyzBOUNDARY"},
            ),
            400,
        )
        await refused(
            await world.client.post(f"{KB}/documents", json={"file": "x"}, headers=headers), 415
        )
        # Within the limit, the same route accepts.
        assert (await upload(world, "ok.md", b"# Fine\n\nText.")).status_code == 202


async def test_the_command_line_ingests_and_answers(database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "rabbit-teeth.md").write_bytes(GUIDE_V1)
    (folder / "ferrets.pdf").write_bytes(make_pdf(PDF_LINES))
    (folder / "broken.pdf").write_bytes(make_pdf(PDF_LINES)[:150])
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a document: not picked up
    settings = make_settings(database_url, data_dir=tmp_path / "data")
    out = io.StringIO()
    console = Console(file=out, width=200)

    lines = await ingest(settings, database_url, [folder], console)
    assert sorted((line.path.name, line.action, line.state) for line in lines) == [
        ("broken.pdf", "created", "failed"),
        ("ferrets.pdf", "created", "ingested"),
        ("rabbit-teeth.md", "created", "ingested"),
    ]
    assert print_ingest(lines, console) is False
    assert "damaged" in out.getvalue()
    again = await ingest(settings, database_url, [folder / "rabbit-teeth.md"], console)
    assert [(line.action, line.state) for line in again] == [("unchanged", "ingested")]
    assert print_ingest(again, console) is True

    from vetchart.domain.kb.labels import LabelFilter

    answer = await ask(
        settings,
        database_url,
        "How is ferret adrenal disease treated?",
        filters=LabelFilter(),
        max_sources=3,
    )
    assert answer.mode == "extractive"
    assert answer.sources[0].title == "Ferrets"
    print_answer(answer, console)
    assert "deslorelin" in out.getvalue()

    help_text = CliRunner().invoke(cli_app, ["kb", "--help"]).output
    assert "ingest" in help_text
    assert "query" in help_text


async def test_demo_documents_are_seeded_once(database_url: str, tmp_path: Path) -> None:
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        service = world.app.state.container.kb_documents
        first = await service.seed_demo()
        assert first.startswith("knowledge base: 12 demo documents (12 ingested now, 0 unchanged)")
        second = await service.seed_demo()
        assert "(0 ingested now, 12 unchanged)" in second
        assert await document_count(world.app) == 12
