"""The FHIR R4 read API (/fhir/R4, docs/fhir.md): every answer is parsed with the FHIR
models of ``fhir.resources`` (its R4B package: the R4 structures of these resources), the
mapping is checked field by field, errors are OperationOutcomes with the JSON API's
status, reads leave their audit rows, and ``$everything`` reads in a constant number of
statements. The scope of every route, role and relation is in tests/api/test_scope_matrix.py.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.relatedperson import RelatedPerson
from httpx import Response

from tests.api.audit_checks import audit_rows
from tests.api.auth_helpers import ADMIN, HILLCREST_VET, OWNER, RIVERSIDE_TECH, RIVERSIDE_VET
from tests.api.sql_counter import count_statements
from tests.api.test_schedule_flow import tiny_pdf
from tests.fixtures.world import World, start

FHIR = "/fhir/R4"
ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"

MODELS: dict[str, Any] = {
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "Encounter": Encounter,
    "OperationOutcome": OperationOutcome,
    "Patient": Patient,
    "RelatedPerson": RelatedPerson,
}


def fhir_json(response: Response, status: int = 200) -> dict[str, Any]:
    """The answer's resource, after checking its status and media type and parsing it
    with the FHIR model of its type (a Bundle's entries are parsed with theirs)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    body: dict[str, Any] = response.json()
    MODELS[body["resourceType"]].model_validate(body)
    return body


def entries(bundle: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    found = [entry["resource"] for entry in bundle.get("entry", [])]
    return [r for r in found if kind is None or r["resourceType"] == kind]


class Chart:
    """A Riverside client's pet with a checkup (weight, temperature), a vaccination, a
    record entered in error, a visit and an attachment, made through the JSON API."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.pet: dict[str, Any] = {}
        self.owner: dict[str, Any] = {}
        self.records: list[dict[str, Any]] = []
        self.visit: dict[str, Any] = {}
        self.attachment: dict[str, Any] = {}

    async def build(self) -> Chart:
        w = self.world
        self.owner = await w.create_owner(
            RIVERSIDE_TECH,
            full_name="Jordan Client",
            email="jordan@example.com",
            phone="+44 20 7946 0000",
            address="1 High Street, London",
        )
        self.pet = await w.create_pet(
            RIVERSIDE_TECH,
            self.owner["id"],
            name="Biscuit",
            species="dog",
            breed="Beagle",
            sex="female",
            neutered=True,
            date_of_birth="2020-03-04",
            microchip_id=f"9851{uuid4().int % 10**11:011d}",
        )
        await self.add_records()
        visit = await w.client.post(
            f"/api/v1/pets/{self.pet['id']}/visits",
            json={"visit_date": (w.now() - timedelta(hours=3)).isoformat()},
            headers=await w.h(RIVERSIDE_TECH),
        )
        assert visit.status_code == 201, visit.text
        self.visit = visit.json()
        attached = await w.client.post(
            f"/api/v1/medical-records/{self.records[0]['id']}/attachments",
            files={"file": ("xray.pdf", io.BytesIO(tiny_pdf()), "application/pdf")},
            data={"description": "Chest X-ray"},
            headers=await w.h(RIVERSIDE_VET),
        )
        assert attached.status_code == 201, attached.text
        self.attachment = attached.json()
        return self

    async def add_records(self, extra: int = 0) -> None:
        w, pet_id = self.world, self.pet["id"]
        day = (w.today() - timedelta(days=2)).isoformat()
        self.records.append(
            await w.create_medical_record(
                RIVERSIDE_VET,
                pet_id,
                title="Annual check-up",
                visit_date=day,
                weight_kg="12.40",
                temperature_c="38.6",
            )
        )
        self.records.append(
            await w.create_medical_record(
                RIVERSIDE_VET,
                pet_id,
                record_type="vaccination",
                title="Booster",
                visit_date=day,
                data={"vaccine_name": "DHPPi", "batch": "A1234"},
            )
        )
        wrong = await w.create_medical_record(
            RIVERSIDE_VET, pet_id, title="Wrong pet", visit_date=day, weight_kg="40"
        )
        marked = await w.client.post(
            f"/api/v1/medical-records/{wrong['id']}/entered-in-error",
            json={"reason": "Wrong pet"},
            headers={**await w.h(RIVERSIDE_VET), "If-Match": '"1"'},
        )
        assert marked.status_code == 200, marked.text
        for n in range(extra):
            await w.create_medical_record(
                RIVERSIDE_VET, pet_id, title=f"Extra {n}", visit_date=day, weight_kg="12.5"
            )

    async def get(self, path: str, email: str = RIVERSIDE_VET, **params: str) -> Response:
        return await self.world.client.get(
            f"{FHIR}/{path}", params=params, headers=await self.world.h(email)
        )


async def new_chart(app: Any, client: Any) -> Chart:
    world = await start(app, client, demo_clients=True)
    return await Chart(world).build()


async def assert_read_row(chart: Chart, response: Response, action: str, resource: str) -> None:
    rows = await audit_rows(chart.world.app, response.headers["x-request-id"])
    assert [(r["action"], r["outcome"], r["resource_id"]) for r in rows] == [
        (action, "success", resource)
    ]
    assert rows[0]["actor_id"] == chart.world.users[RIVERSIDE_VET].id


# --------------------------------------------------------------------------- the server


async def test_metadata_is_a_public_capability_statement(app: Any, client: Any) -> None:
    body = fhir_json(await client.get(f"{FHIR}/metadata"))
    assert body["fhirVersion"] == "4.0.1"
    assert body["kind"] == "instance"
    served = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert set(served) == {
        "Patient",
        "RelatedPerson",
        "Encounter",
        "Observation",
        "Immunization",
        "DocumentReference",
    }
    assert served["Patient"]["operation"][0]["name"] == "everything"
    assert {p["name"] for p in served["Observation"]["searchParam"]} == {"patient", "code"}


# --------------------------------------------------------------------------- reads


async def test_patient_is_the_pet_with_the_animal_extension(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    pet = chart.pet
    response = await chart.get(f"Patient/{pet['id']}")
    body = fhir_json(response)
    assert response.headers["etag"] == 'W/"1"'
    assert body["id"] == pet["id"]
    assert body["name"] == [{"use": "usual", "text": "Biscuit"}]
    assert body["gender"] == "female"
    assert body["birthDate"] == "2020-03-04"
    assert body["active"] is True
    assert body["identifier"] == [
        {"use": "official", "system": "urn:iso:std:iso:11784", "value": pet["microchip_id"]}
    ]
    (animal,) = body["extension"]
    assert animal["url"] == ANIMAL
    parts = {part["url"]: part["valueCodeableConcept"] for part in animal["extension"]}
    assert parts["species"]["text"] == "dog"
    assert parts["species"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "448771007",
        "display": "Canis lupus subsp. familiaris",
    }
    assert parts["breed"] == {"text": "Beagle"}
    assert parts["genderStatus"]["coding"][0]["code"] == "neutered"
    assert body["link"] == [
        {"other": {"reference": f"RelatedPerson/{pet['id']}"}, "type": "seealso"}
    ]
    await assert_read_row(chart, response, "pet.fhir_read", pet["id"])


async def test_related_person_is_the_owner_of_the_patient(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    response = await chart.get(f"RelatedPerson/{chart.pet['id']}")
    body = fhir_json(response)
    assert body["patient"] == {"reference": f"Patient/{chart.pet['id']}"}
    assert body["name"] == [{"text": "Jordan Client"}]
    assert {(t["system"], t["value"]) for t in body["telecom"]} == {
        ("phone", "+44 20 7946 0000"),
        ("email", "jordan@example.com"),
    }
    assert body["address"] == [{"text": "1 High Street, London"}]
    assert body["identifier"][0]["value"] == f"urn:uuid:{chart.owner['id']}"
    await assert_read_row(chart, response, "pet.fhir_owner_read", chart.pet["id"])


async def test_encounter_is_the_visit(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    response = await chart.get(f"Encounter/{chart.visit['id']}")
    body = fhir_json(response)
    assert body["status"] == "finished"
    assert body["class"]["code"] == "AMB"
    assert body["subject"] == {"reference": f"Patient/{chart.pet['id']}"}
    assert body["period"]["start"][:19] == chart.visit["visit_date"][:19]
    await assert_read_row(chart, response, "visit.fhir_read", chart.visit["id"])


async def test_searches_by_patient(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    pet_id = chart.pet["id"]
    checkup, vaccination = chart.records

    response = await chart.get("Observation", patient=f"Patient/{pet_id}")
    bundle = fhir_json(response)
    assert bundle["type"] == "searchset"
    observations = entries(bundle, "Observation")
    assert bundle["total"] == len(observations) == 2  # the record in error is left out
    by_code = {o["code"]["coding"][0]["code"]: o for o in observations}
    weight, temperature = by_code["29463-7"], by_code["8310-5"]
    assert weight["id"] == f"{checkup['id']}-weight"
    assert weight["valueQuantity"] == {
        "value": 12.4,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert temperature["valueQuantity"]["value"] == 38.6
    assert temperature["valueQuantity"]["code"] == "Cel"
    assert weight["category"][0]["coding"][0]["code"] == "vital-signs"
    assert weight["subject"] == {"reference": f"Patient/{pet_id}"}
    assert weight["effectiveDateTime"] == checkup["visit_date"]
    assert bundle["entry"][0]["fullUrl"].endswith(f"{FHIR}/Observation/{observations[0]['id']}")
    await assert_read_row(chart, response, "pet.fhir_observation_search", pet_id)

    only_weight = fhir_json(
        await chart.get("Observation", patient=pet_id, code="http://loinc.org|29463-7")
    )
    assert [o["id"] for o in entries(only_weight)] == [weight["id"]]

    immunizations = entries(fhir_json(await chart.get("Immunization", patient=pet_id)))
    assert len(immunizations) == 1
    (shot,) = immunizations
    assert shot["id"] == vaccination["id"]
    assert shot["vaccineCode"] == {"text": "DHPPi"}
    assert shot["lotNumber"] == "A1234"
    assert shot["status"] == "completed"
    assert shot["occurrenceDateTime"] == vaccination["visit_date"]

    documents = entries(fhir_json(await chart.get("DocumentReference", patient=pet_id)))
    by_id = {d["id"]: d for d in documents}
    assert set(by_id) == {checkup["id"], vaccination["id"], chart.attachment["id"]}
    scan = by_id[chart.attachment["id"]]["content"][0]["attachment"]
    assert scan["contentType"] == "application/pdf"
    assert scan["url"] == f"/api/v1/attachments/{chart.attachment['id']}/content"
    assert scan["size"] == chart.attachment["size_bytes"]
    record_doc = by_id[checkup["id"]]["content"][0]["attachment"]
    assert record_doc["url"] == f"/api/v1/medical-records/{checkup['id']}"


async def test_patient_everything_is_one_bundle_of_the_chart(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    pet_id = chart.pet["id"]
    response = await chart.get(f"Patient/{pet_id}/$everything")
    bundle = fhir_json(response)
    kinds = [r["resourceType"] for r in entries(bundle)]
    assert kinds == [
        "Patient",
        "RelatedPerson",
        "Encounter",
        "Observation",
        "Observation",
        "Immunization",
        "DocumentReference",
        "DocumentReference",
        "DocumentReference",
    ]
    assert entries(bundle, "Encounter")[0]["id"] == chart.visit["id"]
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    await assert_read_row(chart, response, "pet.fhir_everything", pet_id)
    # The reads are in the pet's access log, named as FHIR reads.
    log = await client.get(
        f"/api/v1/pets/{pet_id}/access-log", headers=await chart.world.h(RIVERSIDE_VET)
    )
    assert "pet.fhir_everything" in {item["action"] for item in log.json()["items"]}


async def test_owner_and_admin_read_the_chart_and_other_practices_do_not(
    app: Any, client: Any
) -> None:
    chart = await new_chart(app, client)
    world = chart.world
    async with world.container.uow() as uow:
        mine = await uow.pet_owners.get_by_user(world.users[OWNER].id)
    assert mine is not None
    owners_pet = await world.add_pet(mine.id, "Mine")
    for email in (OWNER, ADMIN):
        fhir_json(await chart.get(f"Patient/{owners_pet.id}/$everything", email))
    # A Riverside-only client is out of Hillcrest's scope: 404, and a denied row.
    hidden = await chart.get(f"Patient/{chart.pet['id']}/$everything", HILLCREST_VET)
    outcome = fhir_json(hidden, 404)
    assert outcome["issue"][0]["code"] == "not-found"
    rows = await audit_rows(app, hidden.headers["x-request-id"])
    assert [(r["action"], r["outcome"]) for r in rows] == [("pet.fhir_everything", "denied")]
    missing = await chart.get(f"Patient/{uuid4()}/$everything", HILLCREST_VET)
    assert fhir_json(missing, 404)["issue"] == outcome["issue"]  # no oracle


# --------------------------------------------------------------------------- errors


async def test_errors_are_operation_outcomes_and_change_nothing(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    pet_id = chart.pet["id"]

    anonymous = await client.get(f"{FHIR}/Patient/{pet_id}")
    assert fhir_json(anonymous, 401)["issue"][0]["code"] == "login"
    assert anonymous.headers["www-authenticate"].lower().startswith("bearer")

    bad: list[tuple[str, dict[str, str]]] = [
        ("Patient/not-a-uuid", {}),
        ("Encounter/123", {}),
        ("Observation", {}),  # patient is required
        ("Observation", {"patient": "Patient/42"}),
        ("Observation", {"patient": pet_id, "code": "http://snomed.info/sct|27113001"}),
        ("Immunization", {"patient": "Practitioner/" + pet_id + "/x"}),
        ("DocumentReference", {"patient": ""}),
    ]
    for path, params in bad:
        response = await chart.get(path, **params)
        outcome = fhir_json(response, 400)
        assert outcome["issue"][0]["code"] == "invalid", (path, params)
        assert outcome["issue"][0]["diagnostics"], (path, params)
        assert await audit_rows(app, response.headers["x-request-id"]) == []

    for path in (f"Patient/{uuid4()}", f"RelatedPerson/{uuid4()}", f"Encounter/{uuid4()}"):
        assert fhir_json(await chart.get(path), 404)["issue"][0]["code"] == "not-found"
    searched = await chart.get("Immunization", patient=f"Patient/{uuid4()}")
    assert fhir_json(searched, 404)["issue"][0]["code"] == "not-found"


# --------------------------------------------------------------------------- statements


async def test_everything_reads_in_a_constant_number_of_statements(app: Any, client: Any) -> None:
    chart = await new_chart(app, client)
    url = f"{FHIR}/Patient/{chart.pet['id']}/$everything"
    headers = await chart.world.h(RIVERSIDE_VET)
    fhir_json(await client.get(url, headers=headers))  # the session is cached from here on
    with count_statements(app) as small:
        small_bundle = fhir_json(await client.get(url, headers=headers))
    await chart.add_records(extra=6)
    for _ in range(3):
        visit = await client.post(
            f"/api/v1/pets/{chart.pet['id']}/visits",
            json={"visit_date": chart.world.now().isoformat()},
            headers=headers,
        )
        assert visit.status_code == 201, visit.text
    with count_statements(app) as big:
        big_bundle = fhir_json(await client.get(url, headers=headers))
    assert len(entries(big_bundle)) >= len(entries(small_bundle)) + 6 * 2 + 3
    assert big.count == small.count, big.report()
    assert small.count <= 12, small.report()


def test_patient_reference_forms() -> None:
    """``patient=`` takes the bare id, ``Patient/<id>`` or a full URL ending so."""
    from vetchart.api.routers.fhir import _patient_id

    pet = uuid4()
    for value in (str(pet), f"Patient/{pet}", f"https://x.example/fhir/R4/Patient/{pet}"):
        assert _patient_id(value) == pet
    assert isinstance(_patient_id(f" Patient/{pet} "), UUID)


async def test_the_services_write_only_their_own_read_actions() -> None:
    """A route cannot make a chart, pet or visit read leave a row of another kind (the
    guard runs before anything is read)."""
    from vetchart.domain.audit_actions import AuditAction
    from vetchart.services.charts import CHART_READS, ChartService
    from vetchart.services.pets import PET_READS, PetService
    from vetchart.services.visits import VISIT_READS, VisitService

    nothing: Any = None
    charts = ChartService(uow=nothing, records=nothing, schedule=nothing)
    with pytest.raises(ValueError, match="not a read of a chart"):
        await charts.chart(nothing, uuid4(), AuditAction.PET_UPDATE, nothing)
    pets = PetService(uow=nothing, queries=nothing, reads=nothing, clock=nothing, ids=nothing)
    with pytest.raises(ValueError, match="not a read of a pet"):
        await pets.get(nothing, uuid4(), nothing, AuditAction.FHIR_PATIENT_EVERYTHING)
    visits = VisitService(
        uow=nothing,
        queries=nothing,
        clock=nothing,
        ids=nothing,
        storage=nothing,
        inspectors=nothing,
        limits=nothing,
    )
    with pytest.raises(ValueError, match="not a read of a visit"):
        await visits.get(nothing, uuid4(), nothing, AuditAction.VISIT_UPDATE)
    fhir_actions = {a for a in AuditAction if a.name.startswith("FHIR_")}
    assert fhir_actions - {AuditAction.FHIR_METADATA} <= CHART_READS | PET_READS | VISIT_READS
