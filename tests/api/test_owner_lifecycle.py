"""The owner lifecycle: deactivate / reactivate (soft), the export of everything about an
owner (GDPR access) and erasure that keeps the medical records pseudonymised with the
audit chain intact. Who may call what is in test_scope_matrix.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import insert, select

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_VET,
    RIVERSIDE_MANAGER,
    RIVERSIDE_VET,
    STRONG_PASSWORD,
    audit_rows,
    login,
    me,
)
from tests.api.clients_helpers import assert_problem
from tests.api.sql_counter import counted_request
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import medical_record_events, message_consents, messages, users
from vetchart.bootstrap import demo_seeders
from vetchart.domain.owners import AssociationStatus
from vetchart.services.demo_lifecycle import DORMANT_OWNER_ID, ERASED_OWNER_ID

API = "/api/v1"
APPROVED = AssociationStatus.APPROVED
PENDING = AssociationStatus.PENDING


async def _post(world: World, url: str, who: str, json: Any = None) -> Response:
    return await world.client.post(f"{API}{url}", json=json, headers=await world.h(who))


async def _get(world: World, url: str, who: str) -> Response:
    return await world.client.get(f"{API}{url}", headers=await world.h(who))


async def _record(world: World, pet_id: str, who: str = RIVERSIDE_VET) -> dict[str, Any]:
    return await world.create_medical_record(who, pet_id, diagnosis="Otitis externa")


async def _amend(world: World, record_id: str, who: str = RIVERSIDE_VET) -> None:
    response = await world.client.patch(
        f"{API}/medical-records/{record_id}",
        json={"treatment": "Ear drops, twice daily"},
        headers={**await world.h(who), "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text


async def _linked_client(world: World, email: str) -> tuple[str, str]:
    """A PET_OWNER account with its owner profile, a client of Riverside (approved) with
    a pending request to Hillcrest, a pet and an amended record: (owner id, pet id)."""
    user_id = await world.new_pet_owner_user(email, "Robin Erasable")
    owner_id = await world.add_owner(
        "Robin Erasable",
        {world.riverside: APPROVED, world.hillcrest: PENDING},
        email=email,
        user_id=user_id,
    )
    pet = await world.create_pet(
        RIVERSIDE_VET, owner_id, name="Pepper", microchip_id="985141000123456", notes="Bites"
    )
    record = await _record(world, pet["id"])
    await _amend(world, record["id"])
    return str(owner_id), pet["id"]


async def test_a_deactivated_owner_stays_readable_and_gets_nothing_new(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_MANAGER, email="dee.active@example.com")
    pet = await world.create_pet(RIVERSIDE_VET, owner["id"])
    url = f"/pet-owners/{owner['id']}"
    assert (await _get(world, url, RIVERSIDE_VET)).json()["is_active"] is True

    response = await _post(world, f"{url}/deactivate", RIVERSIDE_MANAGER)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert response.json()["erased_at"] is None
    read = await _get(world, url, RIVERSIDE_VET)
    assert read.status_code == 200
    assert read.json()["is_active"] is False
    listed = await _get(world, "/pet-owners?limit=200", RIVERSIDE_VET)
    assert {o["id"]: o["is_active"] for o in listed.json()["items"]}[owner["id"]] is False
    with_owner = await _get(world, f"/pets/{pet['id']}", RIVERSIDE_VET)
    assert with_owner.json()["owner"]["is_active"] is False
    # Nothing new for them: pets, associations (their practice's own client), appointments.
    body = {"owner_id": owner["id"], "name": "Second", "species": "cat"}
    assert_problem(await _post(world, "/pets", RIVERSIDE_VET, body), 409, "owner-inactive")
    assoc = await _get(world, f"{url}/associations", RIVERSIDE_VET)
    await _post(world, f"/associations/{assoc.json()['items'][0]['id']}/deactivate", RIVERSIDE_VET)
    body = {"pet_owner_id": owner["id"], "practice_id": str(world.riverside)}
    response = await _post(
        world, "/associations", RIVERSIDE_VET, {**body, "request_type": "new_client"}
    )
    assert_problem(response, 409, "owner-inactive")
    # Deactivating again changes nothing and writes no row.
    assert (await _post(world, f"{url}/deactivate", ADMIN)).status_code == 200
    rows = await audit_rows(app, "pet_owner.deactivate")
    assert [(r["outcome"], r["resource_id"]) for r in rows] == [("success", owner["id"])]
    assert rows[0]["practice_id"] == world.riverside

    response = await _post(world, f"{url}/reactivate", ADMIN)
    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert len(await audit_rows(app, "pet_owner.reactivate")) == 1
    # Active again: the practice links its client again, and registers the pet.
    body = {"pet_owner_id": owner["id"], "practice_id": str(world.riverside)}
    relinked = await _post(
        world, "/associations", RIVERSIDE_VET, {**body, "request_type": "new_client"}
    )
    assert relinked.status_code == 201, relinked.text
    body = {"owner_id": owner["id"], "name": "Second", "species": "cat"}
    assert (await _post(world, "/pets", RIVERSIDE_VET, body)).status_code == 201
    # Bad ids: 422; nothing written.
    assert_problem(await _post(world, "/pet-owners/nope/deactivate", ADMIN), 422)


async def test_an_inactive_owner_gets_no_appointment(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_MANAGER)
    pet = await world.create_pet(RIVERSIDE_VET, owner["id"])
    assert (await _post(world, f"/pet-owners/{owner['id']}/deactivate", ADMIN)).status_code == 200
    body = {
        "pet_owner_id": owner["id"],
        "pet_ids": [pet["id"]],
        "assigned_vet_id": str(world.users[RIVERSIDE_VET].id),
        "start_at": (world.now() + timedelta(days=2)).isoformat(),
        "duration_minutes": 30,
        "appointment_type": "checkup",
        "title": "Check-up",
    }
    response = await _post(world, f"/practices/{world.riverside}/appointments", RIVERSIDE_VET, body)
    assert_problem(response, 409, "owner-inactive")


async def test_the_export_holds_everything_and_is_audited(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    email = "robin.export@example.com"
    owner_id, pet_id = await _linked_client(world, email)
    await _get(world, f"/pets/{pet_id}", RIVERSIDE_VET)  # a read, in the audit trail

    response = await _get(world, f"/pet-owners/{owner_id}/export", email)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["view"] == "full"
    assert export["owner"]["id"] == owner_id
    assert export["owner"]["email"] == email
    assert [p["id"] for p in export["pets"]] == [pet_id]
    assert export["pets"][0]["microchip_id"] == "985141000123456"
    assert {a["status"] for a in export["associations"]} == {"approved", "pending"}
    (record,) = export["medical_records"]
    assert record["diagnosis"] == "Otitis externa"
    assert [v["version"] for v in record["versions"]] == [1, 2]
    assert record["versions"][1]["changed_fields"] == ["treatment"]
    assert {"pet.create", "pet.read", "medical_record.create", "medical_record.amend"} <= {
        row["action"] for row in export["audit_events"]
    }
    assert all("client_address" not in row for row in export["audit_events"])
    rows = await audit_rows(app, "pet_owner.export")
    assert len(rows) == 1
    assert rows[0]["resource_id"] == owner_id
    assert rows[0]["practice_id"] is None
    assert rows[0]["details"]["view"] == "full"

    # Riverside's admin: its view (its association only, no audit rows).
    practice = await _get(world, f"/pet-owners/{owner_id}/export", RIVERSIDE_MANAGER)
    assert practice.status_code == 200
    assert practice.json()["view"] == "practice"
    assert [a["practice_id"] for a in practice.json()["associations"]] == [str(world.riverside)]
    assert practice.json()["audit_events"] == []
    assert len(practice.json()["medical_records"]) == 1
    # A vet of that practice: 403; Hillcrest (pending only): 404.
    assert_problem(await _get(world, f"/pet-owners/{owner_id}/export", RIVERSIDE_VET), 403)
    assert_problem(await _get(world, f"/pet-owners/{owner_id}/export", HILLCREST_VET), 404)


async def test_the_export_sends_a_constant_number_of_statements(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_MANAGER)
    url = f"{API}/pet-owners/{owner['id']}/export"
    assert (await client.get(url, headers=await world.h(ADMIN))).status_code == 200
    counts = []
    for size in (1, 3):
        while len(counts) < size:
            pet = await world.create_pet(RIVERSIDE_VET, owner["id"], name=f"Pet {len(counts)}")
            record = await _record(world, pet["id"])
            await _amend(world, record["id"])
            counts.append(0)
        response, counter = await counted_request(
            app,
            client,
            "GET",
            f"{API}/pet-owners/{owner['id']}/export",
            headers=await world.h(ADMIN),
        )
        assert response.status_code == 200
        assert len(response.json()["medical_records"]) == size
        counts[size - 1] = counter.count
    assert counts[0] == counts[2], counts


async def _events(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.container.engine.connect() as conn:
        query = select(medical_record_events).order_by(
            medical_record_events.c.record_id, medical_record_events.c.version
        )
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def test_erasure_pseudonymises_keeps_the_records_and_the_audit_chain(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    email = "robin.erase@example.com"
    owner_id, pet_id = await _linked_client(world, email)
    owner_headers = dict(await world.h(email, STRONG_PASSWORD))
    records = await _get(world, f"/pets/{pet_id}/medical-records", RIVERSIDE_VET)
    (record,) = records.json()["items"]
    history_before = (
        await _get(world, f"/medical-records/{record['id']}/history", RIVERSIDE_VET)
    ).json()
    events_before = await _events(app)
    assert (await app.state.container.verify_audit()).ok
    # Personal data of the messaging tables: a consent and a logged message.
    consent = await client.patch(
        f"/api/v1/pet-owners/{owner_id}/message-consent",
        json={"email": True, "sms": True},
        headers=owner_headers,
    )
    assert consent.status_code == 200, consent.text
    async with app.state.container.engine.begin() as conn:
        await conn.execute(
            insert(messages).values(
                id=world.new_id(),
                pet_owner_id=UUID(owner_id),
                practice_id=world.riverside,
                event_id=world.new_id(),
                kind="appointment_confirmation",
                channel="email",
                status="sent",
                recipient=email,
                subject="Your appointment",
                body="Dear Robin, see you on Tuesday.",
                created_at=world.now(),
            )
        )

    response = await _post(world, f"/pet-owners/{owner_id}/erase", ADMIN)
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["full_name"] == f"Erased owner {UUID(owner_id).hex[-8:]}"
    assert (erased["email"], erased["phone"], erased["address"]) == (None, None, None)
    assert erased["is_active"] is False
    assert erased["erased_at"] is not None
    pet = (await _get(world, f"/pets/{pet_id}", RIVERSIDE_VET)).json()
    assert pet["name"] == f"Erased pet {UUID(pet_id).hex[-8:]}"
    assert (pet["microchip_id"], pet["notes"], pet["is_active"]) == (None, None, False)
    assert pet["species"] == "dog"
    # The account: pseudonymised, inactive, signed out everywhere, no way back in.
    assert (await me(client, owner_headers["Authorization"].split()[1])).status_code == 401
    assert (await login(client, email, STRONG_PASSWORD)).status_code == 401
    async with app.state.container.engine.connect() as conn:
        account = (
            await conn.execute(select(users).where(users.c.id == UUID(erased["user_id"])))
        ).one()
    assert account.email.endswith("@erased.invalid")
    assert account.full_name == "Erased user"
    assert account.is_active is False
    # The messaging tables keep no address, subject, text or consent of the owner.
    async with app.state.container.engine.connect() as conn:
        logged = (
            await conn.execute(select(messages).where(messages.c.pet_owner_id == UUID(owner_id)))
        ).all()
        consents = (
            await conn.execute(
                select(message_consents).where(message_consents.c.pet_owner_id == UUID(owner_id))
            )
        ).all()
    assert [(m.channel, m.recipient, m.subject, m.body) for m in logged] == [
        ("email", None, None, None)
    ]
    assert consents == []
    # The pending request to Hillcrest is rejected; Riverside keeps its client (and records).
    associations = (await _get(world, f"/pet-owners/{owner_id}/associations", ADMIN)).json()
    assert {a["status"] for a in associations["items"]} == {"approved", "rejected"}
    # The records and their history are untouched, and still readable by the practice.
    assert await _events(app) == events_before
    history_after = (
        await _get(world, f"/medical-records/{record['id']}/history", RIVERSIDE_VET)
    ).json()
    assert history_after == history_before
    # The audit chain still verifies; the erasure has its row (no personal data in it).
    assert (await app.state.container.verify_audit()).ok
    rows = await audit_rows(app, "pet_owner.erase")
    assert len(rows) == 1
    assert rows[0]["details"] == {
        "pets": 1,
        "account": True,
        "revoked_sessions": 1,
        "rejected_associations": 1,
        "messages_blanked": 1,
    }
    assert email not in str(rows[0])
    # Idempotent: again is 200, the same owner, no second row; never reactivated.
    again = await _post(world, f"/pet-owners/{owner_id}/erase", ADMIN)
    assert again.status_code == 200
    assert again.json() == erased
    assert len(await audit_rows(app, "pet_owner.erase")) == 1
    assert_problem(
        await _post(world, f"/pet-owners/{owner_id}/reactivate", ADMIN), 409, "owner-erased"
    )
    # The export now shows the pseudonym.
    export = (await _get(world, f"/pet-owners/{owner_id}/export", ADMIN)).json()
    assert email not in str(export["owner"])
    assert export["owner"]["erased_at"]


async def test_a_practice_admin_erases_only_their_own_lone_client(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    lone = await world.create_owner(RIVERSIDE_MANAGER, email="lone@example.com")
    shared = await world.create_owner(RIVERSIDE_MANAGER, email="shared@example.com")
    await world.add_association(UUID(shared["id"]), world.hillcrest, APPROVED)
    response = await _post(world, f"/pet-owners/{shared['id']}/erase", RIVERSIDE_MANAGER)
    assert_problem(response, 403)
    assert (await _get(world, f"/pet-owners/{shared['id']}", ADMIN)).json()["email"] == (
        "shared@example.com"
    )
    response = await _post(world, f"/pet-owners/{lone['id']}/erase", RIVERSIDE_MANAGER)
    assert response.status_code == 200
    assert response.json()["email"] is None
    rows = await audit_rows(app, "pet_owner.erase")
    assert [(r["outcome"], r["practice_id"]) for r in rows] == [
        ("denied", world.riverside),
        ("success", world.riverside),
    ]


async def test_the_demo_data_shows_each_feature_and_loads_twice(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    seeders = demo_seeders(app.state.container, lifecycle=True)
    first = [await seed() for seed in seeders]
    again = [await seed() for seed in seeders]
    assert first[-1] == "lifecycle: 2 invitations, 2 owners (deactivated, erased)"
    assert again[-1] == "lifecycle: 0 invitations, 0 owners (deactivated, erased)"
    listed = await _get(
        world, f"/practices/{world.riverside}/invitations?status=all", RIVERSIDE_MANAGER
    )
    assert sorted(item["status"] for item in listed.json()["items"]) == ["pending", "revoked"]
    dormant = (await _get(world, f"/pet-owners/{DORMANT_OWNER_ID}", RIVERSIDE_VET)).json()
    assert dormant["is_active"] is False
    assert dormant["erased_at"] is None
    erased = (await _get(world, f"/pet-owners/{ERASED_OWNER_ID}/export", ADMIN)).json()
    assert erased["owner"]["erased_at"] is not None
    assert erased["owner"]["email"] is None
    assert erased["pets"][0]["name"].startswith("Erased pet ")
    assert len(erased["medical_records"]) == 1
    # The demo's pending invitation can be accepted with its documented token.
    response = await client.post(
        f"{API}/invitations/accept",
        json={
            "token": "demo-invitation-pending-riverside",
            "password": STRONG_PASSWORD,
            "full_name": "New Nurse",
        },
    )
    assert response.status_code == 201, response.text
