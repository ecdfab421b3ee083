"""Knowledge base: documents, questions and answers."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from vetchart.api.schemas.common import RequestModel
from vetchart.domain.kb.documents import MAX_SOURCE_URL_CHARS, MAX_TITLE_CHARS
from vetchart.domain.kb.labels import MAX_LABEL_LENGTH, MAX_LABEL_VALUES
from vetchart.services.kb_answers import DEFAULT_SOURCES, MAX_QUESTION_CHARS, MAX_SOURCES, Source

DocumentStateOut = Literal["pending", "ingesting", "ingested", "failed"]
AudienceName = Literal["expert", "pet-owner"]
Label = str
LabelList = list[Label] | Label


class KbDocumentOut(BaseModel):
    id: UUID
    title: str
    state: DocumentStateOut
    chunk_count: int
    error: str | None
    species: list[str]
    symptoms: list[str]
    body_system: str | None
    audience: AudienceName | None
    doc_type: str | None
    source_url: str | None


class KbQueryIn(RequestModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    max_sources: int = Field(default=DEFAULT_SOURCES, ge=1, le=MAX_SOURCES)
    species: LabelList | None = Field(
        default=None, description="One label or a list: documents sharing any of them."
    )
    symptoms: LabelList | None = Field(
        default=None, description="One label or a list: documents sharing any of them."
    )
    body_system: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)
    audience: AudienceName | None = None
    doc_type: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)


# An answer's source is answered as the answer service gives it: the fields of Source,
# declared there once. A field added there is
# answered too, and fails tests/unit/test_inherited_responses.py until reviewed and pinned.
@dataclass(frozen=True)
class KbSourceOut(Source):
    pass


class KbAnswerOut(BaseModel):
    answer: str
    sources: list[KbSourceOut]
    mode: Literal["generated", "extractive"]
    degraded: bool
    timings_ms: dict[str, float] = Field(
        description="Milliseconds spent: embed (when vectors are used), retrieve, answer, total."
    )


def _labels_schema(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_LENGTH},
        "maxItems": MAX_LABEL_VALUES,
        "description": description,
    }


UPLOAD_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "Markdown, plain text or PDF (judged by content).",
                    },
                    "title": {"type": "string", "maxLength": MAX_TITLE_CHARS},
                    "species": _labels_schema("Repeatable (or comma-separated)."),
                    "symptoms": _labels_schema("Repeatable (or comma-separated)."),
                    "body_system": {"type": "string", "maxLength": MAX_LABEL_LENGTH},
                    "audience": {"type": "string", "enum": ["expert", "pet-owner"]},
                    "doc_type": {"type": "string", "maxLength": MAX_LABEL_LENGTH},
                    "source_url": {
                        "type": "string",
                        "format": "uri",
                        "maxLength": MAX_SOURCE_URL_CHARS,
                    },
                },
            },
            "encoding": {
                "species": {"style": "form", "explode": True},
                "symptoms": {"style": "form", "explode": True},
            },
        }
    },
}
