"""Knowledge base documents and answers as responses."""

from __future__ import annotations

from vetchart.api.schemas.common import response_from
from vetchart.api.schemas.kb import KbAnswerOut, KbDocumentOut, KbSourceOut
from vetchart.domain.kb.documents import KbDocument
from vetchart.services.kb_answers import KbAnswer


def document_out(document: KbDocument) -> KbDocumentOut:
    labels = document.labels
    return KbDocumentOut(
        id=document.id,
        title=document.title,
        state=document.state.value,
        chunk_count=document.chunk_count,
        error=document.error,
        species=list(labels.species),
        symptoms=list(labels.symptoms),
        body_system=labels.body_system,
        audience=labels.audience,
        doc_type=labels.doc_type,
        source_url=document.source_url,
    )


def answer_out(answer: KbAnswer) -> KbAnswerOut:
    return KbAnswerOut(
        answer=answer.answer,
        sources=[response_from(KbSourceOut, source) for source in answer.sources],
        mode=answer.mode,
        degraded=answer.degraded,
        timings_ms=answer.timings_ms,
    )
