"""Visit summaries through the API with an OpenAI-compatible local server: a generated
draft with its provenance; when the service fails, the extractive draft marked degraded.
The transcript never reaches the logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.api.auth_helpers import API, OWNER, RIVERSIDE_TECH, RIVERSIDE_VET
from tests.api.kb_helpers import kb_settings, kb_world
from tests.fixtures.world import start
from tests.integration.ai.fake_servers import Behaviour, FakeService, openai_app, serve
from vetchart.config import AiSettings

TRANSCRIPT = (
    "Owner: She has been vomiting since Monday.\n"
    "Vet: Her temperature is 39.5 degrees. Likely gastroenteritis.\n"
    "Vet: We'll start a bland diet. Recheck in two days."
)
GENERATED = {
    "presenting_complaint": {"text": "Vomiting since Monday.", "sentences": [1]},
    "findings": {"text": "T 39.5 C.", "sentences": [2]},
    "assessment": {"text": "Probable gastroenteritis.", "sentences": [3]},
    "plan": {"text": "Bland diet.", "sentences": [4]},
    "follow_up": {"text": "Recheck in 2 days.", "sentences": [5]},
}


@pytest.fixture(scope="module")
def openai_server() -> Iterator[tuple[FakeService, str]]:
    service = FakeService()
    with serve(openai_app(service)) as url:
        yield service, f"{url}/v1"


async def _summarised_visit(world, tech: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    pets = await world.client.get(f"{API}/pets?limit=5", headers=await world.h(OWNER))
    pet = pets.json()["items"][0]
    visit = await world.client.post(
        f"{API}/pets/{pet['id']}/visits",
        json={"visit_date": datetime.now(UTC).isoformat(), "transcript_text": TRANSCRIPT},
        headers=tech,
    )
    assert visit.status_code == 201, visit.text
    visit_id = str(visit.json()["id"])
    queued = await world.client.post(f"{API}/visits/{visit_id}/summary", headers=tech)
    assert queued.status_code == 202, queued.text
    await world.deliver_events()
    return visit_id


@pytest.mark.parametrize("failing", [False, True], ids=["generated", "degraded"])
async def test_summaries_with_an_ai_service(
    openai_server: tuple[FakeService, str], database_url: str, tmp_path: Path, failing: bool
) -> None:
    fake, url = openai_server
    fake.reset()
    fake.chat_content = json.dumps(GENERATED)
    if failing:
        fake.behaviour = Behaviour(failures=-1, status=503)
    settings = kb_settings(
        database_url,
        tmp_path,
        ai=AiSettings(
            openai_api_key="test-key",
            openai_base_url=url,
            openai_chat_model="chat-test",
            openai_max_attempts=1,
            openai_timeout_seconds=2.0,
        ),
    )
    async with kb_world(settings, database_url) as world:
        await start(world.app, world.client, demo_clients=True)
        tech = await world.h(RIVERSIDE_TECH)
        with capture_logs() as logs:
            visit_id = await _summarised_visit(world, tech)
        assert "vomiting since Monday" not in repr(logs)
        visit = (await world.client.get(f"{API}/visits/{visit_id}", headers=tech)).json()
        assert visit["state"] == "processed", visit
        provenance = visit["summary"]["provenance"]
        if failing:
            assert provenance["adapter"] == "extractive"
            assert provenance["degraded"] is True
        else:
            assert (provenance["adapter"], provenance["model"]) == ("openai", "chat-test")
            assert provenance["degraded"] is False
            plan = visit["summary"]["sections"]["plan"]
            assert plan["text"] == "Bland diet."
            [[begin, end]] = plan["spans"]
            assert TRANSCRIPT[begin:end] == "We'll start a bland diet."
        assert fake.count("/v1/chat/completions") >= 1
        accepted = await world.client.post(
            f"{API}/visits/{visit_id}/summary/accept", headers=await world.h(RIVERSIDE_VET)
        )
        assert accepted.status_code == 201, accepted.text
        kept = accepted.json()["data"]["ai_summary"]["provenance"]
        assert kept["adapter"] == provenance["adapter"]
