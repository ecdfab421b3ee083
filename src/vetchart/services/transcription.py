"""Speech to text of a visit's recording, in the worker, then the summary draft.

An upload queues the recording (``VisitTranscriptionRequested``, domain/transcription.py
decides whether); so does ``POST /visits/{id}/transcription``. The worker's handler
``transcription.visit``:

1. skips what is no longer wanted (another recording came, already done or failed): a
   second delivery of the same event, or a new event for the same recording, never calls
   the service again once the recording is done;
2. commits ``transcribing`` (attempt n) in a short transaction of its own, so the state
   shows while the service works; reads the recording from storage; calls the port
   without holding the visit's row lock;
3. writes the transcript (``transcript_source`` the adapter, ``transcription`` its
   provenance), ``done``, a system audit row, and queues the summary draft
   (``VisitSummaryRequested``) unless a summary was already accepted as a record;
4. on a retryable outside failure it commits ``pending`` with the reason and raises, so
   the worker retries after its back-off, at most ``job_attempts`` runs in all; then, or
   on a recording the adapter refuses, ``failed`` with the reason.

Transcripts are never logged.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

import structlog

from vetchart.domain.appointments import Visit, VisitState, VisitSummaryRequested
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.policy import ClientScope, Principal
from vetchart.domain.transcription import (
    RETRY_NOTE,
    TranscriptionStatus,
    VisitTranscriptionRequested,
    request_transcription,
    wants_transcription,
)
from vetchart.services.audit import SYSTEM, record_item
from vetchart.services.jobs import EventHandler
from vetchart.services.ports.ai import ServiceUnavailable
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.speech import SpeechToText, Transcript, TranscriptionRejected
from vetchart.services.ports.storage import ObjectStorage
from vetchart.services.ports.system import Clock
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from vetchart.services.visits import locked_visit

log = structlog.get_logger(__name__)

EVERYTHING = ClientScope(everything=True)


class VisitTranscriptionService:
    name = "transcription.visit"

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        storage: ObjectStorage,
        transcriber: SpeechToText,
        language: str | None = None,
        max_audio_bytes: int,
        job_attempts: int,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._storage = storage
        self._transcriber = transcriber
        self._language = language or None
        self._max_bytes = max_audio_bytes
        self._job_attempts = job_attempts

    @property
    def configured(self) -> bool:
        return self._transcriber.configured

    async def request(self, actor: Principal, visit_id: UUID, meta: RequestMeta) -> Visit:
        """Queue the visit's recording for transcription (202); already queued: as is."""
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id)
            wanted = request_transcription(visit, configured=self.configured)
            if wanted is not None:
                uow.record(wanted)
                visit.touch(self._clock.now())
                await uow.visits.save(visit)
            record_item(
                uow,
                meta,
                actor,
                AuditAction.VISIT_TRANSCRIPTION_REQUEST,
                visit,
                {"queued": wanted is not None, "status": visit.transcription_status.value},
            )
            await uow.commit()
        return visit

    def handler(self) -> EventHandler:
        return EventHandler.on(self.name, VisitTranscriptionRequested, self.handle)

    async def handle(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        visit_id = UUID(str(message.payload["visit_id"]))
        audio_key = str(message.payload["audio_key"])
        visit = await uow.visits.get(visit_id, EVERYTHING)
        if not wants_transcription(visit, audio_key):
            return  # superseded, done, failed, or the client wrote the transcript
        assert visit is not None
        assert visit.audio is not None
        meta = RequestMeta(request_id=f"event:{message.id}")
        if not self.configured:
            await self._finish(uow, visit_id, audio_key, meta, error=None, configured=False)
            return
        attempt = await self._start(visit_id, audio_key)
        if attempt is None:
            return
        try:
            audio = await self._recording(visit)
            transcript = await self._transcriber.transcribe(
                audio, visit.audio.content_type, self._language
            )
        except TranscriptionRejected as refused:
            await self._finish(uow, visit_id, audio_key, meta, error=refused.reason)
            return
        except ServiceUnavailable as error:
            log.warning(
                "transcription.unavailable",
                visit_id=str(visit_id),
                attempt=attempt,
                error=type(error).__name__,
            )
            if error.retryable and attempt < self._job_attempts:
                await self._back_to_pending(visit_id, audio_key)
                raise  # the worker runs the job again after its back-off
            reason = f"The {error.service} transcription service failed ({attempt} attempts)."
            await self._finish(uow, visit_id, audio_key, meta, error=reason)
            return
        if not transcript.text.strip():
            error_text = "No speech was recognised in the recording."
            await self._finish(uow, visit_id, audio_key, meta, error=error_text)
            return
        await self._finish(uow, visit_id, audio_key, meta, transcript=transcript)

    async def _recording(self, visit: Visit) -> bytes:
        assert visit.audio is not None
        if visit.audio.size_bytes > self._max_bytes:
            raise TranscriptionRejected(
                f"The recording is {visit.audio.size_bytes} bytes; transcription takes at "
                f"most {self._max_bytes} bytes (VETCHART_STT_MAX_AUDIO_BYTES)."
            )
        parts: list[bytes] = []
        async for chunk in self._storage.open(visit.audio.key):
            parts.append(chunk)
        audio = b"".join(parts)
        if hashlib.sha256(audio).hexdigest() != visit.audio.sha256:
            raise TranscriptionRejected("The stored recording does not match its checksum.")
        return audio

    async def _start(self, visit_id: UUID, audio_key: str) -> int | None:
        """Commit ``transcribing`` and the attempt's number (its own short transaction)."""
        async with self._uow() as uow:
            visit = await uow.visits.get(visit_id, EVERYTHING, for_update=True)
            if visit is None or not wants_transcription(visit, audio_key):
                return None
            visit.transcription_status = TranscriptionStatus.TRANSCRIBING
            visit.transcription_attempts += 1
            visit.touch(self._clock.now())
            await uow.visits.save(visit)
            await uow.commit()
            return visit.transcription_attempts

    async def _back_to_pending(self, visit_id: UUID, audio_key: str) -> None:
        async with self._uow() as uow:
            visit = await uow.visits.get(visit_id, EVERYTHING, for_update=True)
            if visit is None or not wants_transcription(visit, audio_key):
                return
            visit.transcription_status = TranscriptionStatus.PENDING
            visit.transcription_error = RETRY_NOTE
            visit.touch(self._clock.now())
            await uow.visits.save(visit)
            await uow.commit()

    async def _finish(
        self,
        uow: UnitOfWork,
        visit_id: UUID,
        audio_key: str,
        meta: RequestMeta,
        *,
        transcript: Transcript | None = None,
        error: str | None = None,
        configured: bool = True,
    ) -> None:
        """The outcome, in the handler's transaction (with its claim on the event)."""
        visit = await uow.visits.get(visit_id, EVERYTHING, for_update=True)
        if visit is None or not wants_transcription(visit, audio_key):
            return  # another recording came, or the client wrote a transcript meanwhile
        now = self._clock.now()
        details: dict[str, object]
        if not configured:
            visit.transcription_status = TranscriptionStatus.NOT_CONFIGURED
            details = {"status": visit.transcription_status.value}
        elif transcript is None:
            visit.transcription_status = TranscriptionStatus.FAILED
            visit.transcription_error = error
            details = {"status": visit.transcription_status.value, "error": error}
        else:
            visit.transcript_text = transcript.text
            visit.transcript_source = transcript.adapter
            visit.transcription_status = TranscriptionStatus.DONE
            visit.transcription_error = None
            visit.transcription = _provenance(transcript, visit, now.isoformat())
            details = {
                "status": visit.transcription_status.value,
                "adapter": transcript.adapter,
                "model": transcript.model,
                "duration_seconds": transcript.duration_seconds,
            }
            if visit.summary_record_id is None:
                # The summary draft of the new transcript (services/summaries.py).
                visit.move_to(VisitState.PROCESSING, now)
                uow.record(
                    VisitSummaryRequested(
                        visit_id=visit.id, pet_id=visit.pet_id, practice_id=visit.practice_id
                    )
                )
                details["summary_requested"] = True
        visit.touch(now)
        await uow.visits.save(visit)
        record_item(uow, meta, SYSTEM, AuditAction.VISIT_TRANSCRIBE, visit, details)


def _provenance(transcript: Transcript, visit: Visit, at: str) -> dict[str, object]:
    assert visit.audio is not None
    return {
        "adapter": transcript.adapter,
        "model": transcript.model,
        "language": transcript.language,
        "duration_seconds": transcript.duration_seconds,
        "segments": [
            {"start": segment.start, "end": segment.end, "text": segment.text}
            for segment in transcript.segments
        ],
        "audio_key": visit.audio.key,
        "audio_sha256": visit.audio.sha256,
        "transcribed_at": at,
    }
