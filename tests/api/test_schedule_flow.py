"""One walk through appointments, visits, audio, attachments, the dashboard and the
timeline (the detailed batteries are in their own modules)."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import API, OWNER, RIVERSIDE_MANAGER, RIVERSIDE_TECH, RIVERSIDE_VET
from tests.fixtures.world import World, start


def tiny_wav(seconds: float = 0.1, rate: int = 8000) -> bytes:
    frames = int(seconds * rate)
    data = b"\x00\x00" * frames
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data


def tiny_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


async def _owner_pet(world: World) -> tuple[str, dict[str, Any]]:
    pets = await world.client.get(f"{API}/pets?limit=50", headers=await world.h(OWNER))
    pet = pets.json()["items"][0]
    return str(pet["owner_id"]), pet


async def test_a_day_at_the_practice(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    owner_id, pet = await _owner_pet(world)
    vet = world.users[RIVERSIDE_VET]
    tech = await world.h(RIVERSIDE_TECH)
    start_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    body = {
        "pet_owner_id": owner_id,
        "pet_ids": [pet["id"]],
        "assigned_vet_id": str(vet.id),
        "start_at": start_at.isoformat(),
        "duration_minutes": 30,
        "appointment_type": "checkup",
        "title": "Annual check",
        "notes": None,
    }
    created = await client.post(
        f"{API}/practices/{world.riverside}/appointments", json=body, headers=tech
    )
    assert created.status_code == 201, created.text
    appointment = created.json()
    assert appointment["pets"][0]["name"] == pet["name"]
    assert appointment["status"] == "scheduled"
    clash = await client.post(
        f"{API}/practices/{world.riverside}/appointments",
        json={**body, "start_at": (start_at + timedelta(minutes=15)).isoformat()},
        headers=tech,
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["conflicting_appointment_id"] == appointment["id"]

    moved = await client.post(
        f"{API}/appointments/{appointment['id']}/status",
        json={"status": "confirmed"},
        headers=tech,
    )
    assert moved.status_code == 200, moved.text
    illegal = await client.post(
        f"{API}/appointments/{appointment['id']}/status",
        json={"status": "completed"},
        headers=tech,
    )
    assert illegal.status_code == 409

    listed = await client.get(
        f"{API}/practices/{world.riverside}/appointments",
        params={"date": start_at.date().isoformat()},
        headers=tech,
    )
    assert listed.status_code == 200, listed.text
    assert appointment["id"] in {a["id"] for a in listed.json()["items"]}

    visit = await client.post(
        f"{API}/pets/{pet['id']}/visits",
        json={
            "visit_date": datetime.now(UTC).isoformat(),
            "appointment_id": appointment["id"],
            "transcript_text": "Dog is bright and alert.",
        },
        headers=tech,
    )
    assert visit.status_code == 201, visit.text
    visit_id = visit.json()["id"]
    audio = await client.put(
        f"{API}/visits/{visit_id}/audio",
        content=tiny_wav(),
        headers={**tech, "Content-Type": "audio/wav"},
    )
    assert audio.status_code == 201, audio.text
    assert audio.json()["audio"]["content_type"] == "audio/x-wav" or audio.json()["audio"]
    redirect = await client.get(f"{API}/visits/{visit_id}/audio", headers=await world.h(OWNER))
    assert redirect.status_code == 307, redirect.text
    fetched = await client.get(redirect.headers["location"])
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == tiny_wav()

    records = await client.get(
        f"{API}/pets/{pet['id']}/medical-records", headers=await world.h(RIVERSIDE_VET)
    )
    record_id = records.json()["items"][0]["id"]
    files = {"file": ("../../etc/scan.pdf", io.BytesIO(tiny_pdf()), "image/png")}
    attached = await client.post(
        f"{API}/medical-records/{record_id}/attachments",
        files=files,
        data={"description": "Scan"},
        headers=await world.h(RIVERSIDE_VET),
    )
    assert attached.status_code == 201, attached.text
    assert attached.json()["content_type"] == "application/pdf"
    assert attached.json()["file_name"] == "scan.pdf"

    dashboard = await client.get(f"{API}/dashboard/today", headers=tech)
    assert dashboard.status_code == 200, dashboard.text
    timeline = await client.get(f"{API}/pets/{pet['id']}/timeline", headers=await world.h(OWNER))
    assert timeline.status_code == 200, timeline.text
    kinds = {item["kind"] for item in timeline.json()["items"]}
    assert {"appointment", "visit"} <= kinds, kinds
    manager = await client.get(f"{API}/dashboard/today", headers=await world.h(RIVERSIDE_MANAGER))
    assert manager.status_code == 200


async def test_a_visit_summary_becomes_a_record_only_when_a_vet_accepts_it(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client, demo_clients=True)
    _, pet = await _owner_pet(world)
    tech = await world.h(RIVERSIDE_TECH)
    vet = await world.h(RIVERSIDE_VET)
    transcript = (
        "The owner says Biscuit has been vomiting since yesterday and will not eat. "
        "On examination she is mildly dehydrated and her abdomen is tender. "
        "I think this is acute gastroenteritis. "
        "Plan: fluids under the skin, a bland diet and anti-nausea tablets for three days. "
        "Come back in one week if she is not better."
    )
    visit = await client.post(
        f"{API}/pets/{pet['id']}/visits",
        json={"visit_date": datetime.now(UTC).isoformat(), "transcript_text": transcript},
        headers=tech,
    )
    visit_id = visit.json()["id"]
    queued = await client.post(f"{API}/visits/{visit_id}/summary", headers=tech)
    assert queued.status_code == 202, queued.text
    assert queued.json()["state"] == "processing"
    early = await client.post(f"{API}/visits/{visit_id}/summary/accept", headers=vet)
    assert early.status_code == 409

    await world.deliver_events()  # what the worker does
    done = await client.get(f"{API}/visits/{visit_id}", headers=tech)
    body = done.json()
    assert body["state"] == "processed", body
    draft = body["summary"]
    assert draft["status"] == "draft"
    assert draft["provenance"]["adapter"] == "extractive"
    assert set(draft["sections"]) == {
        "presenting_complaint",
        "findings",
        "assessment",
        "plan",
        "follow_up",
    }
    for section in draft["sections"].values():
        for start_at, end_at in section["spans"]:
            assert 0 <= start_at < end_at <= len(transcript)

    # Staff who are not vets cannot accept; the vet can, once.
    refused = await client.post(f"{API}/visits/{visit_id}/summary/accept", headers=tech)
    assert refused.status_code == 403
    accepted = await client.post(
        f"{API}/visits/{visit_id}/summary/accept",
        json={"title": "Gastroenteritis visit", "edits": {"plan": "Fluids and a bland diet."}},
        headers=vet,
    )
    assert accepted.status_code == 201, accepted.text
    record = accepted.json()
    assert record["author_id"] == str(world.users[RIVERSIDE_VET].id)
    assert record["treatment"] == "Fluids and a bland diet."
    assert record["data"]["ai_summary"]["provenance"]["adapter"] == "extractive"
    assert record["data"]["ai_summary"]["edited_sections"] == ["plan"]
    again = await client.post(f"{API}/visits/{visit_id}/summary/accept", headers=vet)
    assert again.status_code == 409
    after = await client.get(f"{API}/visits/{visit_id}", headers=tech)
    assert after.json()["summary_record_id"] == record["id"]
