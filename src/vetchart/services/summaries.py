"""Visit summaries: a draft from the transcript (a job), accepted by a vet as a new record.

AI output is never clinical data by itself. The summariser (OpenAI when configured, else
the extractive one; the extractive one also when the AI service fails) writes a *draft*
on the visit with its provenance: adapter, model, prompt version, the transcript's hash
and the spans of the transcript each section rests on. A VET of the visit's practice may
accept it: that creates a NEW medical record authored by the vet, provenance kept in the
record's data. No draft ever overwrites an existing record. Transcripts are never logged.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import structlog

from vetchart.domain.appointments import (
    SummaryAcceptance,
    Visit,
    VisitState,
    VisitSummaryRequested,
    local_today,
)
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict, NotFound, RuleViolation
from vetchart.domain.policy import (
    Action,
    ClientScope,
    Principal,
)
from vetchart.domain.records import MedicalRecord, PetFacts, RecordContent, RecordType
from vetchart.services.audit import SYSTEM, record_item
from vetchart.services.audit import record as audit
from vetchart.services.jobs import EventHandler
from vetchart.services.ports.ai import ServiceUnavailable, Summarizer, VisitSummaryDraft
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from vetchart.services.visits import locked_visit

log = structlog.get_logger(__name__)


class VisitSummaryService:
    name = "summary.visit"

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        summarizer: Summarizer,
        fallback: Summarizer,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._summarizer = summarizer
        self._fallback = fallback

    async def request(self, actor: Principal, visit_id: UUID, meta: RequestMeta) -> Visit:
        """Queue the summary (202): the visit moves to ``processing`` now; the worker
        writes the draft and moves it to ``processed`` (or ``failed``)."""
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id)
            if not (visit.transcript_text or "").strip():
                raise RuleViolation(
                    "The visit has no transcript to summarise.",
                    rule="visit.transcript_required",
                    field="transcript_text",
                )
            if visit.summary_record_id is not None:
                raise Conflict(
                    "This visit's summary was already accepted as a record.",
                    code="summary-accepted",
                )
            visit.move_to(VisitState.PROCESSING, self._clock.now())
            await uow.visits.save(visit)
            uow.record(
                VisitSummaryRequested(
                    visit_id=visit.id, pet_id=visit.pet_id, practice_id=visit.practice_id
                )
            )
            record_item(uow, meta, actor, AuditAction.VISIT_SUMMARY_REQUEST, visit)
            await uow.commit()
        return visit

    def handler(self) -> EventHandler:
        return EventHandler.on(self.name, VisitSummaryRequested, self.handle)

    async def handle(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        visit_id = UUID(str(message.payload["visit_id"]))
        everything = ClientScope(everything=True)
        visit = await uow.visits.get(visit_id, everything)
        if visit is None or visit.state is not VisitState.PROCESSING:
            return  # gone, or already summarised by an earlier delivery
        transcript = visit.transcript_text or ""
        # The outside call runs without the visit's row lock: staff may keep working on
        # the visit meanwhile; the draft is written below only if it is still wanted.
        degraded = False
        try:
            draft = await self._summarizer.summarize(transcript)
        except ServiceUnavailable as error:
            log.warning("summary.degraded", visit_id=str(visit_id), error=type(error).__name__)
            draft = await self._fallback.summarize(transcript)
            degraded = True
        visit = await uow.visits.get(visit_id, everything, for_update=True)
        if visit is None or visit.state is not VisitState.PROCESSING:
            return
        if not transcript.strip():
            visit.summary = {"error": "The transcript is empty."}
            visit.move_to(VisitState.FAILED, self._clock.now())
        else:
            visit.summary = self._draft_json(draft, transcript, degraded)
            visit.move_to(VisitState.PROCESSED, self._clock.now())
        await uow.visits.save(visit)
        record_item(
            uow,
            RequestMeta(request_id=f"event:{message.id}"),
            SYSTEM,
            AuditAction.VISIT_SUMMARY_DRAFT,
            visit,
            {"adapter": draft.adapter, "degraded": degraded, "state": visit.state.value},
        )

    def _draft_json(
        self, draft: VisitSummaryDraft, transcript: str, degraded: bool
    ) -> dict[str, Any]:
        return {
            "sections": {
                section.name: {
                    "text": section.text,
                    "spans": [[span.start, span.end] for span in section.spans],
                }
                for section in draft.summary.sections
            },
            "provenance": {
                "adapter": draft.adapter,
                "model": draft.model,
                "prompt_version": draft.prompt_version,
                "generated_at": self._clock.now().isoformat(),
                "transcript_sha256": hashlib.sha256(transcript.encode()).hexdigest(),
                "degraded": degraded,
            },
            "status": "draft",
        }

    async def accept(
        self, actor: Principal, visit_id: UUID, acceptance: SummaryAcceptance, meta: RequestMeta
    ) -> MedicalRecord:
        """A new medical record from the draft, authored by the accepting VET."""
        now = self._clock.now()
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id, Action.VISIT_SUMMARY_ACCEPT)
            if visit.summary_record_id is not None:
                raise Conflict(
                    "This summary was already accepted.",
                    code="summary-accepted",
                    extra={"medical_record_id": str(visit.summary_record_id)},
                )
            if visit.state is not VisitState.PROCESSED or not visit.summary:
                raise Conflict("The visit has no summary draft yet.", code="summary-not-ready")
            stored = visit.summary.get("sections")
            sections: dict[str, str] = {
                str(name): str(value.get("text") or "")
                for name, value in (stored.items() if isinstance(stored, dict) else [])
                if isinstance(value, dict)
            }
            edits = acceptance.edits
            sections.update(edits)
            practice = await uow.practices.get(visit.practice_id)
            if practice is None:  # pragma: no cover - a visit's practice never goes away
                raise NotFound("Practice not found.")
            pet = await uow.pets.get(visit.pet_id, ClientScope(everything=True))
            if pet is None:  # pragma: no cover - a visit's pet never goes away
                raise NotFound("Pet not found.")
            facts = PetFacts(pet.id, pet.species, pet.date_of_birth, pet.is_active)
            description = "\n\n".join(
                part
                for part in (
                    _labelled("Presenting complaint", sections.get("presenting_complaint")),
                    _labelled("Findings", sections.get("findings")),
                    _labelled("Follow-up", sections.get("follow_up")),
                )
                if part
            )
            record = MedicalRecord.create(
                record_id=self._ids.new_id(),
                pet=facts,
                practice_id=visit.practice_id,
                author_id=actor.user_id,
                content=RecordContent(
                    record_type=acceptance.record_type or RecordType.CHECKUP,
                    title=acceptance.title or "Visit summary",
                    visit_date=local_today(visit.visit_date, practice.timezone),
                    description=description or None,
                    diagnosis=sections.get("assessment") or None,
                    treatment=sections.get("plan") or None,
                    data={
                        "ai_summary": {
                            "visit_id": str(visit.id),
                            "provenance": visit.summary.get("provenance"),
                            "edited_sections": sorted(edits),
                        }
                    },
                ),
                now=now,
            )
            await uow.records.add(record)
            visit.summary_record_id = record.id
            visit.summary = {**visit.summary, "status": "accepted"}
            visit.touch(now)
            await uow.visits.save(visit)
            audit(
                uow,
                meta,
                actor,
                AuditAction.VISIT_SUMMARY_ACCEPT,
                record.id,
                visit.practice_id,
                {"visit_id": str(visit.id), "edited_sections": sorted(edits)},
                pet_id=visit.pet_id,
            )
            await uow.commit()
        return record


def _labelled(label: str, text: str | None) -> str:
    return f"{label}: {text.strip()}" if text and text.strip() else ""
