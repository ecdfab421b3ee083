"""Speech to text of visit recordings through the API and the worker: an upload queues
the recording, the worker transcribes it (a local server speaking OpenAI's
``/v1/audio/transcriptions``, or PocketSphinx offline), stores the transcript with its
provenance and queues the summary draft; retries, failures, idempotence, the client's
transcript kept, and ``POST /visits/{id}/transcription``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from starlette.applications import Starlette
from structlog.testing import capture_logs

from tests.api.auth_helpers import API, HILLCREST_TECH, OWNER, RIVERSIDE_TECH, RIVERSIDE_VET
from tests.api.clients_helpers import assert_problem, table_rows
from tests.api.kb_helpers import kb_settings, kb_world
from tests.fixtures.world import World, start
from tests.integration.ai.fake_servers import Behaviour, FakeService, openai_app, serve
from tests.integration.ai.fake_transcription import (
    SAID,
    FakeTranscriptions,
    transcription_app,
)
from vetchart.adapters.db.tables import audit_events, outbox_events, visits
from vetchart.bootstrap import demo_seeders
from vetchart.config import AiSettings, SttSettings
from vetchart.domain.transcription import RETRY_NOTE
from vetchart.services.ports.ai import ServiceUnavailable

RECORDING = (Path(__file__).parents[1] / "fixtures" / "audio" / "one-to-five.flac").read_bytes()
# The chat answer of the summary draft: SAID has three sentences.
DRAFT = {
    "presenting_complaint": {"text": "Limping, left hind.", "sentences": [1]},
    "findings": {"text": "No swelling.", "sentences": [2]},
    "assessment": {"text": "", "sentences": []},
    "plan": {"text": "Rest for a week.", "sentences": [3]},
    "follow_up": {"text": "", "sentences": []},
}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeTranscriptions, FakeService, str]]:
    speech, chat = FakeTranscriptions(), FakeService()
    app = Starlette(routes=[*transcription_app(speech).routes, *openai_app(chat).routes])
    with serve(app) as url:
        yield speech, chat, f"{url}/v1"


@pytest.fixture
def fake(servers: tuple[FakeTranscriptions, FakeService, str]) -> FakeTranscriptions:
    speech, chat, _ = servers
    speech.reset()
    chat.reset()
    chat.chat_content = json.dumps(DRAFT)
    return speech


@asynccontextmanager
async def stt_world(database_url: str, tmp_path: Path, url: str | None, **stt: Any):  # type: ignore[no-untyped-def]
    ai = (
        AiSettings(
            openai_api_key="test-key",
            openai_base_url=url,
            openai_chat_model="chat-test",
            openai_embeddings=False,
            openai_max_attempts=1,
            openai_timeout_seconds=5.0,
        )
        if url
        else AiSettings()
    )
    settings = kb_settings(
        database_url,
        tmp_path,
        ai=ai,
        stt=SttSettings(**({"provider": "openai", "language": "en"} | stt)),
    )
    async with kb_world(settings, database_url) as world:
        await start(world.app, world.client, demo_clients=True)
        yield world


async def new_visit(world: World, transcript: str | None = None) -> str:
    pets = await world.client.get(f"{API}/pets?limit=5", headers=await world.h(OWNER))
    pet = pets.json()["items"][0]
    body: dict[str, Any] = {"visit_date": datetime.now(UTC).isoformat()}
    if transcript is not None:
        body["transcript_text"] = transcript
    created = await world.client.post(
        f"{API}/pets/{pet['id']}/visits", json=body, headers=await world.h(RIVERSIDE_TECH)
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def put_audio(world: World, visit_id: str, audio: bytes = RECORDING) -> dict[str, Any]:
    response = await world.client.put(
        f"{API}/visits/{visit_id}/audio",
        content=audio,
        headers={**await world.h(RIVERSIDE_TECH), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def visit(world: World, visit_id: str) -> dict[str, Any]:
    response = await world.client.get(
        f"{API}/visits/{visit_id}", headers=await world.h(RIVERSIDE_TECH)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ask(world: World, visit_id: str, email: str = RIVERSIDE_TECH) -> Any:
    return await world.client.post(
        f"{API}/visits/{visit_id}/transcription", headers=await world.h(email)
    )


async def transcription_events(world: World) -> list[dict[str, Any]]:
    return await table_rows(
        world.app, outbox_events, outbox_events.c.event_type == "VisitTranscriptionRequested"
    )


async def test_an_uploaded_recording_is_transcribed_then_summarised(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    async with stt_world(database_url, tmp_path, servers[2]) as world:
        visit_id = await new_visit(world)
        uploaded = await put_audio(world, visit_id)
        assert uploaded["transcription_status"] == "pending"
        assert uploaded["transcript_text"] is None
        assert fake.count() == 0  # nothing is sent while the request waits
        with capture_logs() as logs:
            await world.deliver_events()
        assert "limping" not in repr(logs).lower()  # a transcript is never logged
        [upload] = fake.uploads
        assert upload.sha256 == hashlib.sha256(RECORDING).hexdigest()
        assert upload.fields["model"] == ["whisper-1"]
        assert upload.fields["language"] == ["en"]
        done = await visit(world, visit_id)
        assert done["transcription_status"] == "done"
        assert done["transcription_error"] is None
        assert (done["transcript_text"], done["transcript_source"]) == (SAID, "openai")
        provenance = done["transcription"]
        assert (provenance["adapter"], provenance["model"]) == ("openai", "whisper-1")
        assert provenance["audio_sha256"] == uploaded["audio"]["sha256"]
        assert provenance["duration_seconds"] == 6.0
        assert [s["text"] for s in provenance["segments"]][1] == "No swelling."
        assert done["state"] == "processing"  # the summary draft is queued
        await world.deliver_events()
        summarised = await visit(world, visit_id)
        assert summarised["state"] == "processed"
        plan = summarised["summary"]["sections"]["plan"]
        assert plan["text"] == "Rest for a week."
        [[begin, end]] = plan["spans"]
        assert SAID[begin:end] == "Rest for a week."
        rows = await table_rows(
            world.app, audit_events, audit_events.c.action == "visit.transcribe"
        )
        [row] = rows
        assert row["actor_id"] is None
        assert row["details"]["status"] == "done"
        assert row["details"]["summary_requested"] is True
        assert fake.count() == 1


async def test_a_rerun_never_calls_the_service_twice(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    async with stt_world(database_url, tmp_path, servers[2]) as world:
        visit_id = await new_visit(world)
        await put_audio(world, visit_id)
        await world.deliver_events()
        assert fake.count() == 1
        [event] = await transcription_events(world)
        container = world.app.state.container
        # The worker delivers the same event again: its claim is taken.
        again = await container.delivery.deliver(event["id"])
        assert again.skipped == ("transcription.visit",)
        # The handler itself, run once more without the claim: the recording is done.
        async with container.uow() as uow:
            message = await uow.outbox.get(event["id"])
            assert message is not None
            await container.transcription.handle(uow, message)
            await uow.commit()
        # Asking again for the same recording is refused, and queues nothing.
        refused = await ask(world, visit_id)
        assert_problem(refused, 409, "transcription-done")
        assert len(await transcription_events(world)) == 1
        await world.deliver_events()
        assert fake.count() == 1
        # A new recording is transcribed once more.
        await put_audio(world, visit_id, RECORDING + b"\0" * 64)
        await world.deliver_events()
        assert fake.count() == 2


async def test_a_replaced_recording_is_transcribed_once_not_twice(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    async with stt_world(database_url, tmp_path, servers[2]) as world:
        visit_id = await new_visit(world)
        await put_audio(world, visit_id)
        second = await put_audio(world, visit_id, RECORDING + b"\0" * 64)
        await world.deliver_events()
        [upload] = fake.uploads  # the first event found its recording superseded
        assert upload.size == len(RECORDING) + 64
        done = await visit(world, visit_id)
        assert done["transcription"]["audio_sha256"] == second["audio"]["sha256"]


async def test_retries_follow_the_workers_back_off_then_fail_with_the_reason(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    fake.behaviour = Behaviour(failures=-1, status=503)
    async with stt_world(
        database_url, tmp_path, servers[2], max_attempts=1, job_attempts=2
    ) as world:
        visit_id = await new_visit(world)
        await put_audio(world, visit_id)
        # First run: the job fails (the worker retries it after its back-off) ...
        with pytest.raises(ServiceUnavailable):
            await world.deliver_events()
        waiting = await visit(world, visit_id)
        assert waiting["transcription_status"] == "pending"
        assert waiting["transcription_error"] == RETRY_NOTE
        assert fake.count() == 1
        # ... second and last run: failed, with the reason; the job ends.
        await world.deliver_events()
        failed = await visit(world, visit_id)
        assert failed["transcription_status"] == "failed"
        assert "2 attempts" in failed["transcription_error"]
        assert failed["transcript_text"] is None
        assert failed["state"] == "new"  # no summary from no transcript
        assert fake.count() == 2
        await world.deliver_events()
        assert fake.count() == 2  # nothing left to run
        # Asked again once the service is back: transcribed.
        fake.behaviour = Behaviour()
        queued = await ask(world, visit_id)
        assert queued.status_code == 202, queued.text
        assert queued.json()["transcription_status"] == "pending"
        assert queued.json()["transcription_error"] is None
        await world.deliver_events()
        assert (await visit(world, visit_id))["transcription_status"] == "done"
        assert fake.count() == 3


async def test_a_refused_recording_fails_at_once(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    fake.behaviour = Behaviour(failures=1, status=400)
    async with stt_world(database_url, tmp_path, servers[2]) as world:
        visit_id = await new_visit(world)
        await put_audio(world, visit_id)
        await world.deliver_events()
        failed = await visit(world, visit_id)
        assert failed["transcription_status"] == "failed"
        assert "HTTP 400" in failed["transcription_error"]
        assert fake.count() == 1


async def test_the_clients_transcript_is_never_replaced(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    async with stt_world(database_url, tmp_path, servers[2]) as world:
        visit_id = await new_visit(world, transcript="Typed by the nurse.")
        uploaded = await put_audio(world, visit_id)
        assert uploaded["transcription_status"] == "not_requested"
        assert uploaded["transcript_source"] == "client"
        await world.deliver_events()
        assert fake.count() == 0
        before = await visit(world, visit_id)
        refused = await ask(world, visit_id)
        assert_problem(refused, 409, "transcript-supplied")
        assert await visit(world, visit_id) == before  # nothing changed
        # Cleared by the client: the recording may be transcribed.
        cleared = await world.client.patch(
            f"{API}/visits/{visit_id}",
            json={"transcript_text": None},
            headers=await world.h(RIVERSIDE_TECH),
        )
        assert cleared.json()["transcript_source"] is None
        # The update's audit row names the version it made (touched before it is built).
        (stored,) = await table_rows(world.app, visits, visits.c.id == UUID(visit_id))
        updates = await table_rows(
            world.app,
            audit_events,
            audit_events.c.action == "visit.update",
            order_by=[audit_events.c.seq],
        )
        assert updates[-1]["details"]["version"] == stored["version"]
        assert updates[-1]["details"]["fields"] == ["transcript_text"]
        assert (await ask(world, visit_id)).status_code == 202
        # Already queued: 202 again, nothing new queued.
        again = await ask(world, visit_id)
        assert again.status_code == 202
        assert again.json()["transcription_status"] == "pending"
        assert len(await transcription_events(world)) == 1
        await world.deliver_events()
        done = await visit(world, visit_id)
        assert (done["transcript_text"], done["transcript_source"]) == (SAID, "openai")
        assert fake.count() == 1


async def test_without_a_transcriber_the_state_says_not_configured(
    database_url: str, tmp_path: Path
) -> None:
    async with stt_world(database_url, tmp_path, None, provider="none") as world:
        visit_id = await new_visit(world)
        uploaded = await put_audio(world, visit_id)
        assert uploaded["transcription_status"] == "not_configured"
        assert await transcription_events(world) == []
        before = await visit(world, visit_id)
        refused = await ask(world, visit_id)
        assert_problem(refused, 409, "transcription-not-configured")
        assert await visit(world, visit_id) == before


async def test_bad_requests_change_nothing(
    servers: tuple[FakeTranscriptions, FakeService, str],
    fake: FakeTranscriptions,
    database_url: str,
    tmp_path: Path,
) -> None:
    async with stt_world(database_url, tmp_path, servers[2]) as world:
        no_recording = await new_visit(world)
        before = await visit(world, no_recording)
        missing = await ask(world, no_recording)
        assert_problem(missing, 422)
        assert missing.json()["rule"] == "visit.audio_required"
        assert_problem(await ask(world, no_recording, OWNER), 403)
        # The pet is a client of both practices: the visit is visible, not theirs.
        assert_problem(await ask(world, no_recording, HILLCREST_TECH), 403)
        assert_problem(await ask(world, "not-a-uuid"), 422)
        assert_problem(await world.client.post(f"{API}/visits/{no_recording}/transcription"), 401)
        assert await visit(world, no_recording) == before
        assert await transcription_events(world) == []
        rows = await table_rows(
            world.app,
            audit_events,
            audit_events.c.action == "visit.transcription_request",
            audit_events.c.outcome == "success",
        )
        assert rows == []
        assert fake.count() == 0


async def test_the_local_transcriber_end_to_end(database_url: str, tmp_path: Path) -> None:
    """PocketSphinx for real, in the worker: the transcript, then the extractive draft."""
    async with stt_world(database_url, tmp_path, None, provider="local") as world:
        visit_id = await new_visit(world)
        await put_audio(world, visit_id)
        await world.deliver_events()
        done = await visit(world, visit_id)
        assert done["transcription_status"] == "done", done["transcription_error"]
        assert done["transcript_source"] == "local"
        assert done["transcript_text"].split()[-4:] == ["two", "three", "four", "five"]
        assert done["transcription"]["model"] == "pocketsphinx-en-us"
        await world.deliver_events()
        summarised = await visit(world, visit_id)
        assert summarised["state"] == "processed"
        assert summarised["summary"]["provenance"]["adapter"] == "extractive"
        accepted = await world.client.post(
            f"{API}/visits/{visit_id}/summary/accept", headers=await world.h(RIVERSIDE_VET)
        )
        assert accepted.status_code == 201, accepted.text


async def test_the_demo_dictation_is_transcribed_by_the_worker(
    database_url: str, tmp_path: Path
) -> None:
    """`vetchart demo seed` with the local transcriber (as `make run` has it): one visit
    with the dictated recording, queued; the worker writes its transcript and draft."""
    async with stt_world(database_url, tmp_path, None, provider="local") as world:
        for _ in range(2):  # idempotent
            for seed in demo_seeders(world.app.state.container, schedule=True):
                await seed()
        [event] = await transcription_events(world)
        await world.deliver_events()
        await world.deliver_events()
        visit_id = str(event["payload"]["visit_id"])
        done = await visit(world, visit_id)
        assert done["transcription_status"] == "done", done["transcription_error"]
        assert done["transcript_source"] == "local"
        # A synthetic voice and a small model: some of the words come through.
        assert {"three", "days", "week"} <= set(done["transcript_text"].split())
        assert done["state"] == "processed"
        assert done["audio"]["content_type"] == "audio/ogg"
