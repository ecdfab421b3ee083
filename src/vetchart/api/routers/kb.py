"""Knowledge base: /api/v1/kb/documents (upload, list, read, delete) and /api/v1/kb/query."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from vetchart.api.dependencies import KbAnswersDep, KbDocumentsDep, UploadLimitsDep
from vetchart.api.multipart import StreamingForm
from vetchart.api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Paginator
from vetchart.api.presenters import answer_out, document_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.kb import (
    UPLOAD_REQUEST_BODY,
    DocumentStateOut,
    KbAnswerOut,
    KbDocumentOut,
    KbQueryIn,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.api.uploads import upload_limit
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.kb.documents import DocumentState
from vetchart.domain.kb.labels import LabelFilter
from vetchart.domain.uploads import UploadKind
from vetchart.services.ports.kb import DocumentFilters

router = APIRouter(prefix="/kb", tags=["knowledge base"])


@audited(AuditAction.KB_DOCUMENT_CREATE)
@router.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=KbDocumentOut,
    summary="Upload a reference document (SYSTEM_ADMIN); ingestion runs as a job",
    description="Multipart form: `file` (markdown, plain text or PDF, judged by its content) "
    "and optional `title`, `species` and `symptoms` (repeatable), `body_system`, `audience` "
    "(`expert` or `pet-owner`), `doc_type`, `source_url`. Labels not given are taken from the "
    "document's front matter when it is ingested. Answers 202 with the document "
    "(`state: pending`); follow its `state` until `ingested` or `failed`.",
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY} | upload_limit(UploadKind.KB_DOCUMENT),
    responses=problem_responses(401, 403, 413, 415, 422, 429),
)
async def upload_document(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    kb_documents: KbDocumentsDep,
    upload_limits: UploadLimitsDep,
    meta: MetaDep,
) -> KbDocumentOut:
    form = StreamingForm(request, max_file_bytes=upload_limits.for_kind(UploadKind.KB_DOCUMENT))
    document = await kb_documents.upload(principal, form, meta)
    response.headers["Location"] = f"/api/v1/kb/documents/{document.id}"
    return document_out(document)


@audited(AuditAction.KB_DOCUMENT_LIST)
@router.get(
    "/documents",
    response_model=ListResponse[KbDocumentOut],
    summary="Reference documents (any signed-in user), by title",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def list_documents(
    request: Request,
    principal: CurrentPrincipal,
    kb_documents: KbDocumentsDep,
    state: DocumentStateOut | None = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[KbDocumentOut]:
    filters = DocumentFilters(state=DocumentState(state) if state else None)
    pager = Paginator(request, "kb-documents", {"state": state}, (str, UUID))
    page = await kb_documents.list_documents(principal, filters, pager.page_request(cursor, limit))
    return pager.answer(ListResponse[KbDocumentOut], page, document_out)


@audited(AuditAction.KB_DOCUMENT_READ)
@router.get(
    "/documents/{document_id}",
    response_model=KbDocumentOut,
    summary="A reference document and its ingestion state",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def get_document(
    document_id: UUID, principal: CurrentPrincipal, kb_documents: KbDocumentsDep
) -> KbDocumentOut:
    return document_out(await kb_documents.get(principal, document_id))


@audited(AuditAction.KB_DOCUMENT_DELETE)
@router.delete(
    "/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a reference document (SYSTEM_ADMIN): gone from search at once",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def delete_document(
    document_id: UUID, principal: CurrentPrincipal, kb_documents: KbDocumentsDep, meta: MetaDep
) -> Response:
    await kb_documents.delete(principal, document_id, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _labels(value: list[str] | str | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


@audited(AuditAction.KB_QUERY)
@router.post(
    "/query",
    response_model=KbAnswerOut,
    summary="Ask the knowledge base: an answer with numbered sources",
    description="Extractive (the best passages' matching sentences, cited [n]) with no AI "
    "service configured; generated from the same passages with one. When the AI service "
    "fails or its circuit is open the answer is extractive with `degraded: true`. Filters "
    "restrict the sources; `audience` also sets the answer's register.",
    responses=problem_responses(401, 403, 422, 429),
)
async def query(
    body: KbQueryIn, principal: CurrentPrincipal, kb_answers: KbAnswersDep
) -> KbAnswerOut:
    filters = LabelFilter.build(
        species=_labels(body.species),
        symptoms=_labels(body.symptoms),
        body_system=body.body_system,
        audience=body.audience,
        doc_type=body.doc_type,
    )
    answer = await kb_answers.ask(
        principal, body.question, filters=filters, max_sources=body.max_sources
    )
    return answer_out(answer)
