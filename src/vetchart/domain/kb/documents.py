"""Knowledge-base documents: what an uploader states, the document's life cycle, and how
its title and labels are settled when it is ingested.

A document is uploaded (``pending``), picked up by the ingestion job (``ingesting``), and
ends ``ingested`` (its chunks are searchable) or ``failed`` (with a reason, and no chunks).
A transient trouble (the embedding service down) puts it back to ``pending`` with the
reason, and the job is retried. Replacing a document's file sends it back to ``pending``;
its previous chunks stay searchable until the new ones replace them in one transaction.

Labels and title come from two places: the upload form (explicit, they win) and the
document's own front matter (``front_matter.parse_front_matter``), read at ingestion.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit
from uuid import UUID

from vetchart.domain.errors import RuleViolation
from vetchart.domain.events import DomainEvent
from vetchart.domain.input_bounds import check_max_length
from vetchart.domain.kb.front_matter import FrontMatter
from vetchart.domain.kb.labels import Audience, Labels, parse_audience

MAX_TITLE_CHARS: Final = 200
MAX_SOURCE_URL_CHARS: Final = 2000
MAX_ERROR_CHARS: Final = 500

FORM_FIELDS: Final = frozenset(
    {"title", "species", "symptoms", "body_system", "audience", "doc_type", "source_url"}
)
REPEATABLE_FIELDS: Final = frozenset({"species", "symptoms"})

_HEADING_RE: Final = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


class DocumentState(enum.StrEnum):
    PENDING = "pending"
    INGESTING = "ingesting"
    INGESTED = "ingested"
    FAILED = "failed"


def _title(value: str | None) -> str | None:
    if value is None:
        return None
    title = " ".join(value.split())
    if not title:
        return None
    check_max_length(
        title, MAX_TITLE_CHARS, what="The title", rule="kb.title_too_long", field="title"
    )
    return title


def check_source_url(value: str | None) -> str | None:
    """An absolute http(s) URL of at most ``MAX_SOURCE_URL_CHARS``, or None."""
    if value is None or not value.strip():
        return None
    url = value.strip()
    parts = urlsplit(url)
    if (
        len(url) > MAX_SOURCE_URL_CHARS
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(ch.isspace() for ch in url)
    ):
        raise RuleViolation(
            f"The source URL must be an absolute http(s) URL of at most "
            f"{MAX_SOURCE_URL_CHARS} characters.",
            rule="kb.source_url_invalid",
            field="source_url",
        )
    return url


@dataclass(frozen=True)
class DocumentFields:
    """What the uploader stated about a document; empty values were not given."""

    title: str | None = None
    species: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = ()
    body_system: str | None = None
    audience: Audience | None = None
    doc_type: str | None = None
    source_url: str | None = None

    @classmethod
    def from_form(cls, values: Mapping[str, Sequence[str]]) -> DocumentFields:
        """Validate the upload form's text fields (``species`` and ``symptoms`` may be
        repeated or comma-separated; every other field is given at most once)."""
        for name, items in values.items():
            if name not in FORM_FIELDS:
                raise RuleViolation(
                    f"Unknown form field {name[:40]!r}. Known: {', '.join(sorted(FORM_FIELDS))}.",
                    rule="kb.unknown_field",
                    field=name[:40],
                )
            if name not in REPEATABLE_FIELDS and len(items) > 1:
                raise RuleViolation(
                    f"The field {name!r} may be given only once.",
                    rule="kb.repeated_field",
                    field=name,
                )

        def one(name: str) -> str | None:
            items = values.get(name, ())
            return items[0] if items else None

        labels = Labels.build(
            species=values.get("species", ()),
            symptoms=values.get("symptoms", ()),
            body_system=one("body_system"),
            audience=one("audience"),
            doc_type=one("doc_type"),
        )
        return cls(
            title=_title(one("title")),
            species=labels.species,
            symptoms=labels.symptoms,
            body_system=labels.body_system,
            audience=labels.audience,
            doc_type=labels.doc_type,
            source_url=check_source_url(one("source_url")),
        )

    @property
    def labels(self) -> Labels:
        return Labels(
            species=self.species,
            symptoms=self.symptoms,
            body_system=self.body_system,
            audience=self.audience,
            doc_type=self.doc_type,
        )

    def to_json(self) -> dict[str, Any]:
        """Only what was given (stored with the document)."""
        data: dict[str, Any] = {
            "title": self.title,
            "species": list(self.species),
            "symptoms": list(self.symptoms),
            "body_system": self.body_system,
            "audience": self.audience,
            "doc_type": self.doc_type,
            "source_url": self.source_url,
        }
        return {key: value for key, value in data.items() if value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocumentFields:
        audience = data.get("audience")
        return cls(
            title=data.get("title"),
            species=tuple(data.get("species", ())),
            symptoms=tuple(data.get("symptoms", ())),
            body_system=data.get("body_system"),
            audience=parse_audience(audience) if audience else None,
            doc_type=data.get("doc_type"),
            source_url=data.get("source_url"),
        )


def title_from_filename(filename: str | None) -> str:
    """ "canine-parvovirus.md" -> "Canine parvovirus" (the title of last resort)."""
    stem = (filename or "").rsplit("/", 1)[-1]
    if "." in stem.strip("."):
        stem = stem.rsplit(".", 1)[0]
    words = " ".join(re.split(r"[-_\s]+", stem)).strip()
    if not words:
        return "Untitled document"
    return (words[0].upper() + words[1:])[:MAX_TITLE_CHARS]


@dataclass(frozen=True)
class ResolvedMetadata:
    title: str
    labels: Labels
    source_url: str | None


def resolve_metadata(
    given: DocumentFields, front: FrontMatter, *, filename: str | None
) -> ResolvedMetadata:
    """The document's title and labels once its text is known: what the uploader gave,
    else the front matter's, else (title only) the first level-1 heading or the file name."""
    matter = front.labels
    heading = _HEADING_RE.search(front.body)
    title = (
        given.title
        or _title(front.title)
        or (_title(heading.group(1)) if heading else None)
        or title_from_filename(filename)
    )
    labels = Labels(
        species=given.species or matter.species,
        symptoms=given.symptoms or matter.symptoms,
        body_system=given.body_system or matter.body_system,
        audience=given.audience or matter.audience,
        doc_type=given.doc_type or matter.doc_type,
    )
    source_url = given.source_url or check_source_url(front.source_url)
    return ResolvedMetadata(title=title, labels=labels, source_url=source_url)


MARKDOWN_TYPE: Final = "text/markdown"
_MARKDOWN_EXTENSIONS: Final = (".md", ".markdown", ".mdown", ".mkd")
_DECLARED_MARKDOWN: Final = frozenset({"text/markdown", "text/x-markdown"})


def document_media_type(detected: str, *, filename: str | None, declared: str | None) -> str:
    """The type to store for a document whose content was sniffed as ``detected``.

    Markdown has no magic number, so its content is sniffed as ``text/plain``; it is kept
    as ``text/markdown`` when the file name ends in a markdown extension or the client
    declared markdown (the content itself was already checked to be text)."""
    if detected != "text/plain":
        return detected
    kind = (declared or "").split(";")[0].strip().lower()
    if (filename or "").lower().endswith(_MARKDOWN_EXTENSIONS) or kind in _DECLARED_MARKDOWN:
        return MARKDOWN_TYPE
    return detected


@dataclass(frozen=True)
class DocumentFile:
    """The stored bytes of a document: ``object_key`` in the object storage."""

    object_key: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    return reason if len(reason) <= MAX_ERROR_CHARS else reason[: MAX_ERROR_CHARS - 1] + "\u2026"


@dataclass(frozen=True)
class KbDocument:
    id: UUID
    title: str
    labels: Labels
    source_url: str | None
    state: DocumentState
    chunk_count: int
    error: str | None
    given: DocumentFields
    file: DocumentFile
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    ingested_at: datetime | None = None

    @classmethod
    def new(
        cls,
        *,
        document_id: UUID,
        given: DocumentFields,
        file: DocumentFile,
        created_by: UUID | None,
        now: datetime,
    ) -> KbDocument:
        return cls(
            id=document_id,
            title=given.title or title_from_filename(file.filename),
            labels=given.labels,
            source_url=given.source_url,
            state=DocumentState.PENDING,
            chunk_count=0,
            error=None,
            given=given,
            file=file,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )

    def start_ingesting(self, now: datetime) -> KbDocument:
        return replace(self, state=DocumentState.INGESTING, updated_at=now)

    def ingested(self, metadata: ResolvedMetadata, chunk_count: int, now: datetime) -> KbDocument:
        return replace(
            self,
            title=metadata.title,
            labels=metadata.labels,
            source_url=metadata.source_url,
            state=DocumentState.INGESTED,
            chunk_count=chunk_count,
            error=None,
            updated_at=now,
            ingested_at=now,
        )

    def failed(self, reason: str, now: datetime) -> KbDocument:
        """Nothing of it is searchable: its chunks are removed with this change."""
        return replace(
            self, state=DocumentState.FAILED, chunk_count=0, error=_reason(reason), updated_at=now
        )

    def waiting(self, reason: str, now: datetime) -> KbDocument:
        """A transient trouble: back to pending, with the reason, until the job retries."""
        return replace(self, state=DocumentState.PENDING, error=_reason(reason), updated_at=now)

    def with_file(self, file: DocumentFile, given: DocumentFields, now: datetime) -> KbDocument:
        """A new version of the file: pending again (the old chunks stay until replaced)."""
        return replace(
            self,
            file=file,
            given=given,
            title=given.title or self.title,
            state=DocumentState.PENDING,
            error=None,
            updated_at=now,
        )


@dataclass(frozen=True, kw_only=True)
class KbDocumentUploaded(DomainEvent):
    """A document's file was stored (new, or replaced): the ingestion job reads it."""

    document_id: UUID
    sha256: str


@dataclass(frozen=True, kw_only=True)
class KbDocumentDeleted(DomainEvent):
    """A document was deleted (its chunks went with it): its file and any vectors held
    outside the database are removed by the purge handler."""

    document_id: UUID
    object_key: str
