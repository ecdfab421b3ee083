"""Knowledge-base documents: upload, list, read, delete, and ingestion.

An upload streams the file into object storage (size limit while streaming, type judged
from the content), then records the document (``pending``), its audit row and a
``KbDocumentUploaded`` event in one transaction. The worker's ``kb.ingest`` handler reads
the file, extracts its text, settles title and labels (form first, then front matter),
chunks it, embeds the chunks when an embedder is configured (and upserts them to an
outside vector index when there is one), and replaces the document's chunks in one
transaction with the state ``ingested``. A document that cannot be read ends ``failed``
with the reason and no chunks; a transient trouble (a service down) puts it back to
``pending`` with the reason, and the job is retried.

Each document has an ingestion budget (:class:`IngestBudget`): PDF pages (counted before
any page is read), characters of text (counted while extracting), chunks (counted while
chunking) and wall time (by a monotonic clock, checked after each page, each chunk and
around the embeddings). Past one of them the document ends ``failed`` with a reason
naming the cap and its setting, e.g. "the document has more than 2000 chunks
(VETCHART_KB_MAX_CHUNKS)", and no chunks; the job is not retried (the same file would
fail the same way).

The command line (``vetchart kb ingest``) and the demo data run the same ingestion
synchronously, without the worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

import structlog

from vetchart.demo_kb import demo_documents
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import NotFound, RuleViolation
from vetchart.domain.kb.budget import BudgetCap, IngestBudget, IngestBudgetExceeded
from vetchart.domain.kb.chunking import chunk_document
from vetchart.domain.kb.documents import (
    DocumentFields,
    DocumentFile,
    DocumentState,
    KbDocument,
    KbDocumentDeleted,
    KbDocumentUploaded,
    ResolvedMetadata,
    document_media_type,
    resolve_metadata,
)
from vetchart.domain.kb.front_matter import parse_front_matter
from vetchart.domain.policy import Action, Principal, require
from vetchart.domain.uploads import ObjectKey, UploadKind, sanitize_filename
from vetchart.services.audit import UNATTENDED, record
from vetchart.services.jobs import EventHandler
from vetchart.services.ports.ai import Embedder, IndexedChunk, TextExtractor, VectorIndex
from vetchart.services.ports.kb import DocumentFilters, DocumentForm, KbQueries, NewChunk
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.storage import HeadInspector, ObjectMissing, ObjectStorage
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

INGEST_HANDLER: Final = "kb.ingest"
PURGE_HANDLER: Final = "kb.purge"
TRANSIENT_REASON: Final = "Ingestion was interrupted ({service}); it will be retried."
# The setting of each ingestion cap, named in a failed document's reason.
BUDGET_SETTINGS: Final[Mapping[BudgetCap, str]] = {
    "characters": "VETCHART_KB_MAX_EXTRACTED_CHARS",
    "pages": "VETCHART_KB_MAX_PAGES",
    "chunks": "VETCHART_KB_MAX_CHUNKS",
    "seconds": "VETCHART_KB_MAX_INGEST_SECONDS",
}


@dataclass(frozen=True)
class ChunkingRules:
    max_chars: int
    overlap_chars: int


@dataclass(frozen=True)
class IngestOutcome:
    document: KbDocument
    action: Literal["created", "replaced", "unchanged"]


@dataclass(frozen=True)
class _Prepared:
    metadata: ResolvedMetadata
    chunks: list[NewChunk]


class _Permanent(Exception):
    """The document itself cannot be ingested (corrupt, empty, invalid front matter)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @classmethod
    def over_budget(cls, breach: IngestBudgetExceeded) -> _Permanent:
        return cls(f"{breach.detail} ({BUDGET_SETTINGS[breach.cap]})")


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _system_audit(
    uow: UnitOfWork, action: AuditAction, document: KbDocument, source: str, **details: object
) -> None:
    """A write with no signed-in caller (the worker, the command line, the demo data)."""
    record(uow, RequestMeta(), UNATTENDED, action, document.id, None, {"source": source, **details})


class KbDocumentService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: KbQueries,
        clock: Clock,
        ids: IdGenerator,
        storage: ObjectStorage,
        inspect_head: HeadInspector,
        max_bytes: int,
        extractor: TextExtractor,
        chunking: ChunkingRules,
        embedder: Embedder | None = None,
        vector_index: VectorIndex | None = None,
        budget: IngestBudget | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``budget`` should be the one the ``extractor`` was made with (which checks
        pages and characters while it reads); the service checks characters again,
        chunks and the whole document's wall time."""
        self._uow = uow
        self._queries = queries
        self._clock = clock
        self._ids = ids
        self._storage = storage
        self._inspect_head = inspect_head
        self._max_bytes = max_bytes
        self._extractor = extractor
        self._chunking = chunking
        self._embedder = embedder
        self._vector_index = vector_index
        self._budget = budget or IngestBudget()
        self._monotonic = monotonic

    # ----------------------------------------------------------------------- API

    async def upload(self, actor: Principal, form: DocumentForm, meta: RequestMeta) -> KbDocument:
        """Store the form's file and record the document (``pending``); ingestion follows
        as a job. Refusals (403, 413, 415, 422) leave nothing stored."""
        require(actor, Action.KB_DOCUMENT_MANAGE)
        incoming = await form.file()
        if incoming is None:
            raise RuleViolation(
                "A file is required (form field 'file').", rule="kb.file_required", field="file"
            )
        DocumentFields.from_form(form.fields_so_far())  # refuse early what is already known
        now = self._clock.now()
        document_id = self._ids.new_id()
        key = ObjectKey.new(UploadKind.KB_DOCUMENT, now=now, object_id=document_id).value
        filename = sanitize_filename(incoming.filename or "")
        stored = await self._storage.put_stream(
            key,
            incoming.chunks,
            max_bytes=self._max_bytes,
            content_type=incoming.content_type,
            inspect_head=self._inspector(filename, incoming.content_type),
        )
        try:
            given = DocumentFields.from_form(await form.fields())
            file = DocumentFile(
                object_key=key,
                filename=filename,
                media_type=stored.content_type or "application/octet-stream",
                size_bytes=stored.size,
                sha256=stored.sha256 or "",
            )
            document = KbDocument.new(
                document_id=document_id,
                given=given,
                file=file,
                created_by=actor.user_id,
                now=now,
            )
            async with self._uow() as uow:
                await uow.kb.add(document)
                record(
                    uow,
                    meta,
                    actor,
                    AuditAction.KB_DOCUMENT_CREATE,
                    document.id,
                    None,
                    {"media_type": file.media_type, "size_bytes": file.size_bytes},
                )
                uow.record(KbDocumentUploaded(document_id=document.id, sha256=file.sha256))
                await uow.commit()
        except BaseException:
            await self._delete_quietly(key)
            raise
        log.info("kb.document_uploaded", document_id=str(document.id), size=file.size_bytes)
        return document

    async def list_documents(
        self, actor: Principal, filters: DocumentFilters, page: PageRequest
    ) -> Page[KbDocument]:
        require(actor, Action.KB_READ)
        return await self._queries.documents_page(filters, page)

    async def get(self, actor: Principal, document_id: UUID) -> KbDocument:
        require(actor, Action.KB_READ)
        document = await self._queries.document(document_id)
        if document is None:
            raise NotFound("Document not found.")
        return document

    async def delete(self, actor: Principal, document_id: UUID, meta: RequestMeta) -> None:
        """Gone from search with the commit (its chunks go with it); the file is removed
        at once, and again by the purge handler with any outside vectors."""
        require(actor, Action.KB_DOCUMENT_MANAGE)
        async with self._uow() as uow:
            deleted = await uow.kb.delete(document_id)
            if deleted is None:
                raise NotFound("Document not found.")
            record(
                uow,
                meta,
                actor,
                AuditAction.KB_DOCUMENT_DELETE,
                document_id,
                None,
                {"chunk_count": deleted.chunk_count},
            )
            uow.record(
                KbDocumentDeleted(document_id=document_id, object_key=deleted.file.object_key)
            )
            await uow.commit()
        await self._delete_quietly(deleted.file.object_key)

    # ----------------------------------------------------------------------- worker

    def handlers(self) -> list[EventHandler]:
        return [
            EventHandler.on(INGEST_HANDLER, KbDocumentUploaded, self._on_uploaded),
            EventHandler.on(PURGE_HANDLER, KbDocumentDeleted, self._on_deleted),
        ]

    async def _on_uploaded(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        payload = message.payload
        await self._ingest(
            uow, UUID(str(payload["document_id"])), str(payload["sha256"]), source="worker"
        )

    async def _on_deleted(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        payload = message.payload
        await self._storage.delete(str(payload["object_key"]))
        if self._vector_index is not None:
            await self._vector_index.delete_document(UUID(str(payload["document_id"])))

    # ----------------------------------------------------------------------- ingestion

    async def _ingest(
        self, uow: UnitOfWork, document_id: UUID, sha256: str, *, source: str
    ) -> KbDocument | None:
        """Ingest the document's current file; the change is written in ``uow`` (the
        caller commits). Returns the document as written, or None when there was nothing
        to do (deleted, or replaced by a newer file whose own event will follow)."""
        async with self._uow() as progress:  # visible at once: its own short transaction
            document = await progress.kb.get(document_id, for_update=True)
            if document is None or document.file.sha256 != sha256:
                return None
            await progress.kb.save(document.start_ingesting(self._clock.now()))
            await progress.commit()
        try:
            prepared = await self._prepare(document)
        except _Permanent as failure:
            current = await uow.kb.get(document_id, for_update=True)
            if current is None or current.file.sha256 != sha256:
                return None
            failed = current.failed(failure.reason, self._clock.now())
            await uow.kb.replace_chunks(failed, [], embedding_model=None)
            await uow.kb.save(failed)
            _system_audit(
                uow, AuditAction.KB_DOCUMENT_INGEST, failed, source, state=failed.state.value
            )
            log.info("kb.ingest_failed", document_id=str(document_id))
            return failed
        except Exception as trouble:
            await self._note_transient(document_id, trouble)
            raise
        current = await uow.kb.get(document_id, for_update=True)
        if current is None and self._vector_index is not None:
            # Deleted meanwhile: its purge may have run before our upsert.
            await self._vector_index.delete_document(document_id)
        if current is None or current.file.sha256 != sha256:
            return None
        done = current.ingested(prepared.metadata, len(prepared.chunks), self._clock.now())
        model = self._embedder.model if self._embedder is not None else None
        await uow.kb.replace_chunks(done, prepared.chunks, embedding_model=model)
        await uow.kb.save(done)
        _system_audit(
            uow,
            AuditAction.KB_DOCUMENT_INGEST,
            done,
            source,
            state=done.state.value,
            chunk_count=done.chunk_count,
        )
        log.info("kb.ingested", document_id=str(document_id), chunks=done.chunk_count)
        return done

    async def _note_transient(self, document_id: UUID, trouble: Exception) -> None:
        service = getattr(trouble, "service", None) or type(trouble).__name__
        log.warning("kb.ingest_interrupted", document_id=str(document_id), error=service)
        try:
            async with self._uow() as uow:
                document = await uow.kb.get(document_id, for_update=True)
                if document is not None:
                    reason = TRANSIENT_REASON.format(service=service)
                    await uow.kb.save(document.waiting(reason, self._clock.now()))
                    await uow.commit()
        except Exception as error:  # the job is retried anyway; the note is a courtesy
            log.warning("kb.ingest_note_failed", error=type(error).__name__)

    async def _read(self, key: str) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self._storage.open(key):
            size += len(chunk)
            if size > self._max_bytes:
                raise _Permanent("the stored file is larger than the upload limit")
            parts.append(chunk)
        return b"".join(parts)

    async def _prepare(self, document: KbDocument) -> _Prepared:
        try:
            return await self._prepare_within_budget(document)
        except IngestBudgetExceeded as breach:
            raise _Permanent.over_budget(breach) from breach

    async def _extract(self, data: bytes, media_type: str) -> str:
        """The extractor's text; its own checks stop it early, and a real-time limit of
        the budget's seconds fails the document even if the extractor never returns
        (its thread cannot be stopped, but it no longer holds the job)."""
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._extractor.extract, data, media_type),
                timeout=self._budget.max_seconds,
            )
        except TimeoutError as error:
            raise IngestBudgetExceeded("seconds", self._budget.max_seconds) from error

    async def _prepare_within_budget(self, document: KbDocument) -> _Prepared:
        check_time = self._budget.deadline(self._monotonic)
        try:
            data = await self._read(document.file.object_key)
        except ObjectMissing as error:
            raise _Permanent("the stored file is missing") from error
        check_time()
        try:
            text = await self._extract(data, document.file.media_type)
            self._budget.check_chars(len(text))
            check_time()
            front = parse_front_matter(text)
            metadata = resolve_metadata(document.given, front, filename=document.file.filename)
        except IngestBudgetExceeded:
            raise
        except RuleViolation as error:  # ExtractionFailed included
            raise _Permanent(error.detail) from error
        pieces = chunk_document(
            front.body,
            max_chars=self._chunking.max_chars,
            overlap_chars=self._chunking.overlap_chars,
            max_chunks=self._budget.max_chunks,
            on_chunk=check_time,
        )
        if not pieces:
            raise _Permanent("the document has no text to index")
        vectors: Sequence[Sequence[float] | None] = [None] * len(pieces)
        if self._embedder is not None:
            vectors = await self._embedder.embed(
                [piece.contextual_text(metadata.title) for piece in pieces]
            )
            check_time()  # before anything goes to an outside index
        chunks = [
            NewChunk(
                id=self._ids.new_id(),
                chunk_index=piece.ordinal,
                heading=" > ".join(piece.heading_path),
                text=piece.text,
                embedding=vector,
            )
            for piece, vector in zip(pieces, vectors, strict=True)
        ]
        if self._vector_index is not None and self._embedder is not None:
            await self._vector_index.delete_document(document.id)
            await self._vector_index.upsert(
                [
                    IndexedChunk(
                        chunk_id=chunk.id,
                        document_id=document.id,
                        chunk_index=chunk.chunk_index,
                        vector=chunk.embedding or (),
                        labels=metadata.labels,
                    )
                    for chunk in chunks
                ]
            )
        return _Prepared(metadata=metadata, chunks=chunks)

    # ----------------------------------------------------------------------- command line

    async def ingest_bytes(
        self,
        data: bytes,
        filename: str,
        *,
        given: DocumentFields | None = None,
        source: str = "cli",
    ) -> IngestOutcome:
        """Create or replace the document of this file name and ingest it now (not via
        the worker). An unchanged, already ingested file is left alone."""
        name = sanitize_filename(filename)
        digest = hashlib.sha256(data).hexdigest()
        async with self._uow() as uow:
            existing = await uow.kb.find_by_filename(name)
        if existing is not None and existing.file.sha256 == digest:
            if existing.state is DocumentState.INGESTED:
                return IngestOutcome(existing, "unchanged")
            done = await self._ingest_now(existing.id, digest, source)
            return IngestOutcome(done or existing, "replaced")
        now = self._clock.now()
        key = ObjectKey.new(UploadKind.KB_DOCUMENT, now=now, object_id=self._ids.new_id()).value
        stored = await self._storage.put_stream(
            key,
            _one_chunk(data),
            max_bytes=self._max_bytes,
            inspect_head=self._inspector(name, None),
        )
        file = DocumentFile(
            object_key=key,
            filename=name,
            media_type=stored.content_type or "application/octet-stream",
            size_bytes=stored.size,
            sha256=stored.sha256 or digest,
        )
        replaced_key: str | None = None
        try:
            async with self._uow() as uow:
                current = await uow.kb.find_by_filename(name, for_update=True)
                if current is None:
                    document = KbDocument.new(
                        document_id=self._ids.new_id(),
                        given=given or DocumentFields(),
                        file=file,
                        created_by=None,
                        now=now,
                    )
                    await uow.kb.add(document)
                    _system_audit(uow, AuditAction.KB_DOCUMENT_CREATE, document, source)
                else:
                    replaced_key = current.file.object_key
                    document = current.with_file(file, given or current.given, now)
                    await uow.kb.save(document)
                    _system_audit(uow, AuditAction.KB_DOCUMENT_REPLACE, document, source)
                await uow.commit()
        except BaseException:
            await self._delete_quietly(key)
            raise
        if replaced_key is not None:
            await self._delete_quietly(replaced_key)
        done = await self._ingest_now(document.id, file.sha256, source)
        return IngestOutcome(done or document, "created" if replaced_key is None else "replaced")

    async def _ingest_now(self, document_id: UUID, sha256: str, source: str) -> KbDocument | None:
        async with self._uow() as uow:
            done = await self._ingest(uow, document_id, sha256, source=source)
            await uow.commit()
        return done

    async def seed_demo(self) -> str:
        """The demo reference documents (idempotent: unchanged ones are left alone)."""
        outcomes = [
            await self.ingest_bytes(doc.text.encode("utf-8"), doc.filename, source="demo")
            for doc in demo_documents()
        ]
        new = sum(1 for outcome in outcomes if outcome.action != "unchanged")
        chunks = sum(outcome.document.chunk_count for outcome in outcomes)
        return (
            f"knowledge base: {len(outcomes)} demo documents ({new} ingested now, "
            f"{len(outcomes) - new} unchanged), {chunks} chunks"
        )

    def _inspector(self, filename: str, declared: str | None) -> HeadInspector:
        """The upload rules' content check, with markdown told apart from plain text by
        the file name or the declared type (the content was checked to be text)."""

        def inspect_head(head: bytes) -> str:
            detected = self._inspect_head(head)
            return document_media_type(detected, filename=filename, declared=declared)

        return inspect_head

    async def _delete_quietly(self, key: str) -> None:
        try:
            await asyncio.shield(self._storage.delete(key))
        except Exception as error:  # the purge handler or the orphan sweep removes it later
            log.warning("kb.object_not_deleted", error=type(error).__name__)
