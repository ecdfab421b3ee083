"""The knowledge base in PostgreSQL: documents and chunks (repository, in the unit of
work), and the read side: document lists and the one-statement candidate search.

Full text: ``kb_chunks.search_vector`` (generated; title and heading weigh A, text B) is
matched against the question's words joined with OR (``plainto_tsquery`` with its ``&``
turned into ``|``: a natural question rarely has every word in one passage), ranked with
``ts_rank`` normalised by document length (flag 1). ``ts_rank`` rather than
``ts_rank_cd``: with OR-queries cover density favours chunks where common words sit close
together, and on the demo set it ranks worse (19 of 20 questions against 20 of 20).

Vectors: ``kb_chunk_embeddings`` (pgvector, cosine distance, HNSW) when the migration
could create it, else vector search is off here (an outside index may still rank).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Text,
    Uuid,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.expression import CTE
from sqlalchemy.types import UserDefinedType

from vetchart.adapters.db.queries import ReadQueries
from vetchart.adapters.db.resilience import retry_idempotent_read
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.tables import kb_chunks, kb_documents
from vetchart.domain.kb.documents import DocumentFields, DocumentFile, DocumentState, KbDocument
from vetchart.domain.kb.labels import LabelFilter, Labels, parse_audience
from vetchart.domain.kb.retrieval import RankedCandidate
from vetchart.services.ports.kb import ChunkHit, DocumentFilters, NewChunk, SearchRequest
from vetchart.services.ports.paging import Page, PageRequest

_LABEL_COLUMNS = ("species", "symptoms", "body_system", "audience", "doc_type")
_FILE_COLUMNS = ("object_key", "filename", "media_type", "size_bytes", "sha256")

EMBEDDINGS_TABLE: Final = "kb_chunk_embeddings"
# The text-search configuration of the generated column (revision 0007).
TS_CONFIG: Final[ColumnElement[Any]] = literal_column("'english'::regconfig")
# ts_rank normalisation: divide by 1 + log(document length).
TS_RANK_NORMALIZATION: Final = 1

# The column's vector size (its type modifier), or NULL when the table does not exist.
_EMBEDDING_DIMENSIONS = text(
    "SELECT (SELECT a.atttypmod FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass('kb_chunk_embeddings') AND a.attname = 'embedding')"
)
_INSERT_EMBEDDING = text(
    "INSERT INTO kb_chunk_embeddings (chunk_id, model, embedding) "
    "VALUES (:chunk_id, :model, CAST(CAST(:embedding AS text) AS vector))"
)


class _Vector(UserDefinedType[str]):
    """pgvector's type, only as a cast target (values are sent as text)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


_embeddings = table(
    EMBEDDINGS_TABLE,
    column("chunk_id", Uuid()),
    column("embedding", _Vector()),
)


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


# A document's row: its own fields, its labels (also copied to its chunks) and its file.
_DOCUMENTS = EntityRows(
    KbDocument,
    columns_of(kb_documents, without=[*_LABEL_COLUMNS, *_FILE_COLUMNS]),
    enums={"state": DocumentState},
    read={"given": DocumentFields.from_json},
    write={"given": DocumentFields.to_json},
)
_LABELS = EntityRows(
    Labels,
    _LABEL_COLUMNS,
    read={"species": tuple, "symptoms": tuple, "audience": parse_audience},
    write={"species": list, "symptoms": list},
)
_FILES = EntityRows(DocumentFile, _FILE_COLUMNS)


def document_from_row(row: Mapping[Any, Any]) -> KbDocument:
    return _DOCUMENTS.entity(row, labels=_LABELS.entity(row), file=_FILES.entity(row))


def _document_values(document: KbDocument) -> dict[str, Any]:
    """Every column but the id."""
    values = {
        **_DOCUMENTS.values(document),
        **_LABELS.values(document.labels),
        **_FILES.values(document.file),
    }
    del values["id"]
    return values


class SqlKbRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, document: KbDocument) -> None:
        await self._session.execute(
            insert(kb_documents).values(id=document.id, **_document_values(document))
        )

    async def _one(self, query: Select[Any], for_update: bool) -> KbDocument | None:
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return document_from_row(row) if row is not None else None

    async def get(self, document_id: UUID, *, for_update: bool = False) -> KbDocument | None:
        return await self._one(
            select(kb_documents).where(kb_documents.c.id == document_id), for_update
        )

    async def find_by_filename(
        self, filename: str, *, for_update: bool = False
    ) -> KbDocument | None:
        query = (
            select(kb_documents)
            .where(kb_documents.c.filename == filename)
            .order_by(kb_documents.c.created_at, kb_documents.c.id)
            .limit(1)
        )
        return await self._one(query, for_update)

    async def save(self, document: KbDocument) -> None:
        await self._session.execute(
            update(kb_documents)
            .where(kb_documents.c.id == document.id)
            .values(**_document_values(document))
        )

    async def delete(self, document_id: UUID) -> KbDocument | None:
        row = (
            (
                await self._session.execute(
                    delete(kb_documents)
                    .where(kb_documents.c.id == document_id)
                    .returning(*kb_documents.c)
                )
            )
            .mappings()
            .first()
        )
        return document_from_row(row) if row is not None else None

    async def replace_chunks(
        self, document: KbDocument, chunks: Sequence[NewChunk], *, embedding_model: str | None
    ) -> bool:
        session = self._session
        await session.execute(delete(kb_chunks).where(kb_chunks.c.document_id == document.id))
        if not chunks:
            return False
        labels = document.labels
        await session.execute(
            insert(kb_chunks),
            [
                {
                    "id": chunk.id,
                    "document_id": document.id,
                    "chunk_index": chunk.chunk_index,
                    "title": document.title,
                    "heading": chunk.heading,
                    "text": chunk.text,
                    "species": list(labels.species),
                    "symptoms": list(labels.symptoms),
                    "body_system": labels.body_system,
                    "audience": labels.audience,
                    "doc_type": labels.doc_type,
                }
                for chunk in chunks
            ],
        )
        vectors = [chunk for chunk in chunks if chunk.embedding is not None]
        if not vectors or embedding_model is None:
            return False
        dimensions = await session.scalar(_EMBEDDING_DIMENSIONS)
        if dimensions is None or any(len(c.embedding or ()) != dimensions for c in vectors):
            return False
        await session.execute(
            _INSERT_EMBEDDING,
            [
                {
                    "chunk_id": chunk.id,
                    "model": embedding_model,
                    "embedding": vector_literal(chunk.embedding or ()),
                }
                for chunk in vectors
            ],
        )
        return True


def _label_conditions(filters: LabelFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.species:
        conditions.append(kb_chunks.c.species.overlap(list(filters.species)))
    if filters.symptoms:
        conditions.append(kb_chunks.c.symptoms.overlap(list(filters.symptoms)))
    if filters.body_system is not None:
        conditions.append(kb_chunks.c.body_system == filters.body_system)
    if filters.audience is not None:
        conditions.append(kb_chunks.c.audience == filters.audience)
    if filters.doc_type is not None:
        conditions.append(kb_chunks.c.doc_type == filters.doc_type)
    return conditions


def _or_query(question: ColumnElement[Any]) -> ColumnElement[Any]:
    """The question's words (stemmed, stop words out) joined with OR."""
    and_query = cast(func.plainto_tsquery(TS_CONFIG, question), Text)
    return cast(func.replace(and_query, " & ", " | "), TSQUERY)


def _text_ranking(request: SearchRequest, conditions: list[ColumnElement[bool]]) -> CTE:
    q = select(_or_query(bindparam("question", request.question, type_=Text)).label("query")).cte(
        "q"
    )
    rank = func.ts_rank(kb_chunks.c.search_vector, q.c.query, TS_RANK_NORMALIZATION)
    return (
        select(
            kb_chunks.c.id.label("chunk_id"),
            rank.label("score"),
            func.row_number().over(order_by=(rank.desc(), kb_chunks.c.id)).label("rank"),
        )
        .select_from(kb_chunks.join(q, true()))
        .where(kb_chunks.c.search_vector.op("@@")(q.c.query), *conditions)
        .order_by(rank.desc(), kb_chunks.c.id)
        .limit(request.candidates)
        .cte("fts")
    )


def _vector_ranking(request: SearchRequest, conditions: list[ColumnElement[bool]]) -> CTE | None:
    if request.query_vector is not None:
        query_vector = cast(
            bindparam("query_vector", vector_literal(request.query_vector), type_=Text), _Vector()
        )
        distance = _embeddings.c.embedding.op("<=>", return_type=Float())(query_vector)
        return (
            select(
                _embeddings.c.chunk_id.label("chunk_id"),
                (1.0 - distance).label("score"),
                func.row_number().over(order_by=(distance, _embeddings.c.chunk_id)).label("rank"),
            )
            .select_from(_embeddings.join(kb_chunks, kb_chunks.c.id == _embeddings.c.chunk_id))
            .where(*conditions)
            .order_by(distance, _embeddings.c.chunk_id)
            .limit(request.candidates)
            .cte("vec")
        )
    if request.vector_ranking is not None:
        given = (
            func.unnest(bindparam("vector_ids", list(request.vector_ranking), type_=ARRAY(Uuid())))
            .table_valued(column("chunk_id", Uuid()), with_ordinality="position")
            .render_derived(name="given")
        )
        return (
            select(
                given.c.chunk_id.label("chunk_id"),
                literal_column("NULL::double precision").label("score"),
                func.row_number().over(order_by=given.c.position).label("rank"),
            )
            .select_from(given.join(kb_chunks, kb_chunks.c.id == given.c.chunk_id))
            .where(*conditions)
            .order_by(given.c.position)
            .limit(request.candidates)
            .cte("vec")
        )
    return None


def search_statement(request: SearchRequest) -> Select[Any]:
    """One statement: the candidates of both rankings with their ranks and scores."""
    conditions = _label_conditions(request.filters)
    fts = _text_ranking(request, conditions)
    vec = _vector_ranking(request, conditions)
    columns = [
        kb_chunks.c.id,
        kb_chunks.c.document_id,
        kb_chunks.c.chunk_index,
        kb_chunks.c.title,
        kb_chunks.c.heading,
        kb_chunks.c.text,
        kb_documents.c.source_url,
        fts.c.rank.label("text_rank"),
        fts.c.score.label("text_score"),
    ]
    if vec is None:
        joined = fts.join(kb_chunks, kb_chunks.c.id == fts.c.chunk_id)
        columns += [
            literal_column("NULL::bigint").label("vector_rank"),
            literal_column("NULL::double precision").label("vector_score"),
        ]
    else:
        both = fts.outerjoin(vec, fts.c.chunk_id == vec.c.chunk_id, full=True)
        joined = both.join(
            kb_chunks, kb_chunks.c.id == func.coalesce(fts.c.chunk_id, vec.c.chunk_id)
        )
        columns += [vec.c.rank.label("vector_rank"), vec.c.score.label("vector_score")]
    return select(*columns).select_from(
        joined.join(kb_documents, kb_documents.c.id == kb_chunks.c.document_id)
    )


def _hit(row: RowMapping) -> ChunkHit:
    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return ChunkHit(
        candidate=RankedCandidate(
            chunk_id=row["id"],
            text_rank=row["text_rank"],
            text_score=number(row["text_score"]),
            vector_rank=row["vector_rank"],
            vector_score=number(row["vector_score"]),
        ),
        document_id=row["document_id"],
        chunk_index=row["chunk_index"],
        title=row["title"],
        heading=row["heading"],
        text=row["text"],
        source_url=row["source_url"],
    )


class SqlKbQueries(ReadQueries):
    def __init__(self, engine: AsyncEngine, *, read_retries: int) -> None:
        super().__init__(engine, read_retries=read_retries)
        self._vector_dimensions: int | None = None
        self._vector_checked = False

    async def documents_page(self, filters: DocumentFilters, page: PageRequest) -> Page[KbDocument]:
        query = select(kb_documents)
        if filters.state is not None:
            query = query.where(kb_documents.c.state == filters.state.value)
        order = (kb_documents.c.title, kb_documents.c.id)
        return await self._page(query, page, order, document_from_row)

    async def document(self, document_id: UUID) -> KbDocument | None:
        rows = await self._rows(select(kb_documents).where(kb_documents.c.id == document_id))
        return document_from_row(rows[0]) if rows else None

    async def search(self, request: SearchRequest) -> list[ChunkHit]:
        return [_hit(row) for row in await self._rows(search_statement(request))]

    async def vector_search_available(self, dimensions: int) -> bool:
        """Checked once per process (the schema does not change under a running app)."""
        if not self._vector_checked:

            async def read() -> int | None:
                async with self._engine.connect() as conn:
                    value = await conn.scalar(_EMBEDDING_DIMENSIONS)
                    return None if value is None else int(value)

            self._vector_dimensions = await retry_idempotent_read(read, retries=self._retries)
            self._vector_checked = True
        return self._vector_dimensions == dimensions
