"""Ports of the knowledge base the use cases own: the documents' repository (write side,
in the unit of work as ``uow.kb``), the read-side queries and search, and the upload form.

The outside services (embeddings, vector index, answers) are in ``ports.ai``; the file
part of an upload (``IncomingFile``) in ``ports.storage``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from vetchart.domain.kb.documents import DocumentState, KbDocument
from vetchart.domain.kb.labels import LabelFilter
from vetchart.domain.kb.retrieval import RankedCandidate
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.storage import IncomingFile

# --------------------------------------------------------------------------- write side


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store: its text, heading path, and (optional) embedding."""

    id: UUID
    chunk_index: int
    heading: str
    text: str
    embedding: Sequence[float] | None = None


class KbRepository(Protocol):
    async def add(self, document: KbDocument) -> None: ...

    async def get(self, document_id: UUID, *, for_update: bool = False) -> KbDocument | None: ...

    async def find_by_filename(
        self, filename: str, *, for_update: bool = False
    ) -> KbDocument | None:
        """The oldest document uploaded under this file name (the command line's natural
        key for re-ingesting a file)."""
        ...

    async def save(self, document: KbDocument) -> None: ...

    async def delete(self, document_id: UUID) -> KbDocument | None:
        """Delete the document and (in the same statement's cascade) its chunks; the
        deleted document, or None when there was none."""
        ...

    async def replace_chunks(
        self, document: KbDocument, chunks: Sequence[NewChunk], *, embedding_model: str | None
    ) -> bool:
        """Replace every chunk of the document with ``chunks`` (labels and title copied
        from ``document``). Embeddings are kept where the database has a vector column of
        their size; returns whether they were."""
        ...


# --------------------------------------------------------------------------- read side


@dataclass(frozen=True)
class DocumentFilters:
    state: DocumentState | None = None


@dataclass(frozen=True)
class SearchRequest:
    question: str
    filters: LabelFilter
    # Chunks taken from each ranking before fusion.
    candidates: int
    # Rank by similarity to this vector in the database (pgvector), when given...
    query_vector: Sequence[float] | None = None
    # ...or take this ranking made by an outside vector index (best first).
    vector_ranking: Sequence[UUID] | None = None


@dataclass(frozen=True)
class ChunkHit:
    candidate: RankedCandidate
    document_id: UUID
    chunk_index: int
    title: str
    heading: str
    text: str
    source_url: str | None


class KbQueries(Protocol):
    async def documents_page(self, filters: DocumentFilters, page: PageRequest) -> Page[KbDocument]:
        """By title, then id."""
        ...

    async def document(self, document_id: UUID) -> KbDocument | None: ...

    async def search(self, request: SearchRequest) -> list[ChunkHit]:
        """The candidate chunks of a question, in one statement: the best ``candidates``
        by full-text rank (any question word; title and headings weigh more) and, when a
        vector or a vector ranking is given, the best by similarity; label filters apply
        to both. Unordered: the caller fuses the two rankings."""
        ...

    async def vector_search_available(self, dimensions: int) -> bool:
        """Whether the database keeps embeddings of this size (pgvector)."""
        ...


# --------------------------------------------------------------------------- uploads


class DocumentForm(Protocol):
    """A document upload form read as it arrives (the file is never held whole).

    ``file()`` reads up to the file part; ``fields()`` reads the rest of the form (after
    the file's bytes were consumed or, if they were not, skipping them)."""

    async def file(self) -> IncomingFile | None: ...

    def fields_so_far(self) -> Mapping[str, Sequence[str]]: ...

    async def fields(self) -> Mapping[str, Sequence[str]]: ...
