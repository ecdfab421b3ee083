"""The knowledge-base ingestion budget against the database: a document past its
characters, pages, chunks or wall time ends `failed` with a reason naming the cap and
its setting, keeps no chunks (a good earlier version's chunks go too), and its job is
not retried; just under every cap it is ingested. The attack replayed: a 7 KB PDF that
produced 1,520 chunks in 23 s."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select

from tests.api.kb_helpers import (
    ask_ok,
    chunk_rows,
    document,
    kb_settings,
    kb_world,
    upload_ok,
)
from tests.unit.kb.pdf_builder import make_pdf
from vetchart.adapters.db.kb import SqlKbQueries
from vetchart.adapters.db.tables import outbox_events
from vetchart.adapters.storage.sniff import checker_for
from vetchart.adapters.text_extract import DocumentTextExtractor
from vetchart.config import KbSettings
from vetchart.domain.kb.budget import DEFAULT_MAX_CHUNKS, IngestBudget
from vetchart.domain.kb.documents import DocumentState
from vetchart.domain.uploads import UploadKind
from vetchart.services.kb import ChunkingRules, KbDocumentService

SECTIONS = 6
PAGES = 3


def sectioned(count: int) -> bytes:
    """Markdown of ``count`` short sections: one chunk each."""
    return "".join(
        f"# Gerbil care {n}\n\nGerbils need deep bedding to burrow in.\n\n" for n in range(count)
    ).encode()


PDF = make_pdf([[f"Tortoise hibernation page {n}."] for n in range(PAGES)])
TEXT = ("Chinchillas need dust baths. " * 20).encode()


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowExtractor:
    """The real extractor, but each extraction takes ``seconds`` of the fake clock."""

    def __init__(self, clock: FakeMonotonic, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds

    def extract(self, data: bytes, media_type: str | None = None) -> str:
        self._clock.now += self._seconds
        return DocumentTextExtractor().extract(data, media_type)


def budgeted_service(
    app: FastAPI,
    budget: IngestBudget,
    *,
    clock: FakeMonotonic | None = None,
    slow_seconds: float = 0.0,
) -> KbDocumentService:
    """The application's document service with another budget (and a fake clock)."""
    container = app.state.container
    monotonic = clock or FakeMonotonic()
    extractor = (
        SlowExtractor(monotonic, slow_seconds)
        if slow_seconds
        else DocumentTextExtractor(budget, monotonic=monotonic)
    )
    return KbDocumentService(
        uow=container.uow,
        queries=SqlKbQueries(
            container.read_engine, read_retries=container.settings.database.read_retries
        ),
        clock=container.clock,
        ids=container.ids,
        storage=container.storage,
        inspect_head=checker_for(UploadKind.KB_DOCUMENT),
        max_bytes=container.upload_limits.for_kind(UploadKind.KB_DOCUMENT),
        extractor=extractor,
        chunking=ChunkingRules(max_chars=1200, overlap_chars=150),
        budget=budget,
        monotonic=monotonic,
    )


async def test_documents_past_a_cap_fail_with_the_reason_and_keep_no_chunks(
    database_url: str, tmp_path: Path
) -> None:
    text_chars = len(TEXT.decode())
    cases = [
        # (file name, content, budget just under, budget one past, reason)
        (
            "gerbils.md",
            sectioned(SECTIONS),
            IngestBudget(max_chunks=SECTIONS),
            IngestBudget(max_chunks=SECTIONS - 1),
            f"the document has more than {SECTIONS - 1} chunks (VETCHART_KB_MAX_CHUNKS)",
        ),
        (
            "tortoises.pdf",
            PDF,
            IngestBudget(max_pages=PAGES),
            IngestBudget(max_pages=PAGES - 1),
            f"the document has more than {PAGES - 1} pages (VETCHART_KB_MAX_PAGES)",
        ),
        (
            "chinchillas.txt",
            TEXT,
            IngestBudget(max_extracted_chars=text_chars),
            IngestBudget(max_extracted_chars=text_chars - 1),
            f"the document has more than {text_chars - 1} characters "
            "(VETCHART_KB_MAX_EXTRACTED_CHARS)",
        ),
    ]
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        for filename, content, under, over, reason in cases:
            good = await budgeted_service(world.app, under).ingest_bytes(content, filename)
            assert good.document.state is DocumentState.INGESTED, (filename, good.document.error)
            assert await chunk_rows(world.app, str(good.document.id)), filename
            # The same document, changed a little, now one past the cap: it fails and the
            # chunks of its good version are gone with it.
            bad = await budgeted_service(world.app, over).ingest_bytes(
                content + b"\n\nOne more line.\n", filename
            )
            assert bad.document.id == good.document.id
            assert bad.document.state is DocumentState.FAILED, filename
            assert bad.document.error == reason
            assert bad.document.chunk_count == 0
            assert await chunk_rows(world.app, str(bad.document.id)) == [], filename
            shown = await document(world, str(bad.document.id))
            assert (shown["state"], shown["error"], shown["chunk_count"]) == (
                "failed",
                reason,
                0,
            )
        assert (await ask_ok(world, "gerbil deep bedding burrow"))["sources"] == []


async def test_a_document_past_its_time_fails_measured_by_the_clock(
    database_url: str, tmp_path: Path
) -> None:
    budget = IngestBudget(max_seconds=30)
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        quick = budgeted_service(world.app, budget, slow_seconds=29)
        ok = await quick.ingest_bytes(sectioned(2), "quick.md")
        assert ok.document.state is DocumentState.INGESTED
        slow = budgeted_service(world.app, budget, slow_seconds=31)
        failed = await slow.ingest_bytes(sectioned(3), "slow.md")
        assert failed.document.state is DocumentState.FAILED
        assert failed.document.error == (
            "ingestion took more than 30 seconds (VETCHART_KB_MAX_INGEST_SECONDS)"
        )
        assert await chunk_rows(world.app, str(failed.document.id)) == []


async def test_the_worker_fails_a_document_past_the_default_chunk_cap_once(
    database_url: str, tmp_path: Path
) -> None:
    async with kb_world(kb_settings(database_url, tmp_path), database_url) as world:
        created = await upload_ok(world, "many.md", sectioned(DEFAULT_MAX_CHUNKS + 1))
        assert await world.deliver_events() == 1
        failed = await document(world, created["id"])
        assert failed["state"] == "failed"
        assert failed["error"] == (
            f"the document has more than {DEFAULT_MAX_CHUNKS} chunks (VETCHART_KB_MAX_CHUNKS)"
        )
        assert failed["chunk_count"] == 0
        assert await chunk_rows(world.app, created["id"]) == []
        # A breach is permanent: the event is delivered, not left to be retried.
        assert await world.deliver_events() == 0
        async with world.app.state.container.engine.connect() as conn:
            undelivered = (
                await conn.execute(
                    select(outbox_events.c.id).where(outbox_events.c.delivered_at.is_(None))
                )
            ).all()
        assert undelivered == []


async def test_the_settings_set_the_budget_of_the_worker(database_url: str, tmp_path: Path) -> None:
    settings = kb_settings(
        database_url, tmp_path, kb=KbSettings(max_chunks=SECTIONS - 1, max_pages=PAGES - 1)
    )
    async with kb_world(settings, database_url) as world:
        chunked = await upload_ok(world, "gerbils.md", sectioned(SECTIONS))
        paged = await upload_ok(world, "tortoises.pdf", PDF, content_type="application/pdf")
        under = await upload_ok(world, "few.md", sectioned(SECTIONS - 1))
        await world.deliver_events()
        assert (await document(world, chunked["id"]))["error"] == (
            f"the document has more than {SECTIONS - 1} chunks (VETCHART_KB_MAX_CHUNKS)"
        )
        assert (await document(world, paged["id"]))["error"] == (
            f"the document has more than {PAGES - 1} pages (VETCHART_KB_MAX_PAGES)"
        )
        ingested = await document(world, under["id"])
        assert (ingested["state"], ingested["chunk_count"]) == ("ingested", SECTIONS - 1)
