"""knowledge base: documents, chunks with full-text search, embeddings where pgvector is

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

- kb_documents: uploaded reference documents, their labels and ingestion state;
- kb_chunks: the searchable pieces of ingested documents, with the document's labels
  (GIN indexes on the array labels) and a generated, weighted tsvector (title and heading
  A, text B; english configuration) with a GIN index;
- kb_chunk_embeddings (only where the server offers the `vector` extension): one
  vector(1536) per chunk with an HNSW index (cosine). Without it, vector search is off;
  the table is left out of the models-vs-migrations comparison (migrations/env.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vetchart.adapters.db.migrations.ddl import fk, timestamps
from vetchart.adapters.db.privileges import grant_app_privileges

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMBEDDINGS_TABLE = "kb_chunk_embeddings"
EMBEDDING_DIMENSIONS = 1536

_SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, heading), 'A') || "
    "setweight(to_tsvector('english'::regconfig, text), 'B')"
)


def _execute(statement: str) -> None:
    op.execute(statement)


def _labels() -> list[sa.Column[object]]:
    """A document's labels, copied onto each of its chunks (searches filter on them)."""
    return [
        sa.Column("species", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("symptoms", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("body_system", sa.Text(), nullable=True),
        sa.Column("audience", sa.Text(), nullable=True),
        sa.Column("doc_type", sa.Text(), nullable=True),
    ]


def _vector_available() -> bool:
    found = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
    )
    return bool(found)


def upgrade() -> None:
    op.create_table(
        "kb_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        *_labels(),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("given", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        *timestamps(),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'ingesting', 'ingested', 'failed')",
            name=op.f("ck_kb_documents_state_known"),
        ),
        sa.CheckConstraint(
            "audience IS NULL OR audience IN ('expert', 'pet-owner')",
            name=op.f("ck_kb_documents_audience_known"),
        ),
        sa.CheckConstraint(
            "chunk_count >= 0", name=op.f("ck_kb_documents_chunk_count_not_negative")
        ),
        sa.CheckConstraint(
            "length(btrim(title)) > 0", name=op.f("ck_kb_documents_title_not_blank")
        ),
        fk("kb_documents", "created_by", "users", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_documents")),
    )
    op.create_index("ix_kb_documents_title", "kb_documents", ["title", "id"])
    op.create_index("ix_kb_documents_filename", "kb_documents", ["filename", "created_at"])

    op.create_table(
        "kb_chunks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        *_labels(),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(_SEARCH_VECTOR, persisted=True),
            nullable=False,
        ),
        sa.CheckConstraint("chunk_index >= 0", name=op.f("ck_kb_chunks_chunk_index_not_negative")),
        fk("kb_chunks", "document_id", "kb_documents", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_chunks")),
        sa.UniqueConstraint(
            "document_id", "chunk_index", name=op.f("uq_kb_chunks_document_id_chunk_index")
        ),
    )
    op.create_index(
        "ix_kb_chunks_search_vector", "kb_chunks", ["search_vector"], postgresql_using="gin"
    )
    op.create_index("ix_kb_chunks_species", "kb_chunks", ["species"], postgresql_using="gin")
    op.create_index("ix_kb_chunks_symptoms", "kb_chunks", ["symptoms"], postgresql_using="gin")
    op.create_index("ix_kb_chunks_body_system", "kb_chunks", ["body_system"])
    op.create_index("ix_kb_chunks_audience", "kb_chunks", ["audience"])
    op.create_index("ix_kb_chunks_doc_type", "kb_chunks", ["doc_type"])

    if _vector_available():
        # Revision 0001 installs it where available; repeated here so this revision stands
        # on its own (and left in place by the downgrade, which 0001 owns).
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
        op.execute(
            f"""
            CREATE TABLE {EMBEDDINGS_TABLE} (
                chunk_id uuid NOT NULL,
                model text NOT NULL,
                embedding vector({EMBEDDING_DIMENSIONS}) NOT NULL,
                CONSTRAINT pk_{EMBEDDINGS_TABLE} PRIMARY KEY (chunk_id),
                CONSTRAINT fk_{EMBEDDINGS_TABLE}_chunk_id_kb_chunks FOREIGN KEY (chunk_id)
                    REFERENCES kb_chunks (id) ON DELETE CASCADE
            )
            """
        )
        op.execute(
            f"CREATE INDEX ix_{EMBEDDINGS_TABLE}_embedding ON {EMBEDDINGS_TABLE} "
            "USING hnsw (embedding vector_cosine_ops)"
        )
    grant_app_privileges(_execute)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {EMBEDDINGS_TABLE}")
    for index in (
        "ix_kb_chunks_doc_type",
        "ix_kb_chunks_audience",
        "ix_kb_chunks_body_system",
        "ix_kb_chunks_symptoms",
        "ix_kb_chunks_species",
        "ix_kb_chunks_search_vector",
    ):
        op.drop_index(index, table_name="kb_chunks")
    op.drop_table("kb_chunks")
    op.drop_index("ix_kb_documents_filename", table_name="kb_documents")
    op.drop_index("ix_kb_documents_title", table_name="kb_documents")
    op.drop_table("kb_documents")
