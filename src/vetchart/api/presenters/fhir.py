"""FHIR R4 resources (JSON) built from what the services return: the FHIR API's mappers
(api/routers/fhir.py; docs/fhir.md says what maps to what).

- a pet is a ``Patient`` with the standard animal extension
  (``http://hl7.org/fhir/StructureDefinition/patient-animal``: species, breed and gender
  status as CodeableConcepts);
- its owner is a ``RelatedPerson`` of that patient. A RelatedPerson is one person's
  relation to one patient (``RelatedPerson.patient`` is required), so its id is the
  pet's: ``RelatedPerson/{pet_id}`` is "the owner of Patient/{pet_id}";
- a visit is an ``Encounter``;
- a medical record's weight and temperature are vital-sign ``Observation``s (LOINC
  29463-7 and 8310-5, UCUM ``kg`` and ``Cel``), id ``{record_id}-weight`` and
  ``{record_id}-temperature``;
- a vaccination record is an ``Immunization`` (id: the record's);
- every medical record and every attachment of one is a ``DocumentReference`` pointing
  at its JSON API address (ids: the record's, the attachment's).

Pure functions of plain values: no I/O, nothing of the web framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from vetchart.domain.appointments import Visit
from vetchart.domain.records import MedicalRecord, RecordType
from vetchart.services.charts import PetChart
from vetchart.services.ports.paging import Row
from vetchart.services.ports.records import Attachment

FHIR_VERSION = "4.0.1"
ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"
GENDER_STATUS = "http://hl7.org/fhir/animal-genderstatus"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# ISO 11784: the structure of animals' RFID codes (microchips).
MICROCHIP_SYSTEM = "urn:iso:std:iso:11784"
# The species whose SNOMED CT organism concept the mapping knows; others go as text.
SPECIES_SNOMED = {
    "dog": ("448771007", "Canis lupus subsp. familiaris"),
    "cat": ("448169003", "Felis catus"),
}
SEX_TO_GENDER = {"male": "male", "female": "female", "unknown": "unknown"}
# The vital signs a record carries: (record field, id suffix, LOINC code, display, UCUM).
VITALS = (
    ("weight_kg", "weight", "29463-7", "Body weight", ("kg", "kg")),
    ("temperature_c", "temperature", "8310-5", "Body temperature", ("Cel", "°C")),
)
RESOURCE_TYPES = (
    "Patient",
    "RelatedPerson",
    "Encounter",
    "Observation",
    "Immunization",
    "DocumentReference",
)
JSON_API = "/api/v1"

Resource = dict[str, Any]


# --------------------------------------------------------------------------- values


def _instant(moment: datetime) -> str:
    return moment.isoformat()


def _day(day: date) -> str:
    return day.isoformat()


def _number(value: Decimal | str | float) -> float:
    return float(value)


def _reference(resource_type: str, resource_id: UUID | str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def _meta(version: int, updated_at: datetime) -> dict[str, str]:
    return {"versionId": str(version), "lastUpdated": _instant(updated_at)}


def _concept(text: str, coding: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if coding:
        concept["coding"] = [dict(item) for item in coding]
    return concept


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


# --------------------------------------------------------------------------- pets, owners


def pet_fields(row: Row) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The pet's and its owner's fields from a fast-path row (the owner's prefixed
    ``owner__``)."""
    owner = {
        name.removeprefix("owner__"): value
        for name, value in row.items()
        if name.startswith("owner__")
    }
    return row, owner


def _species(species: str) -> dict[str, Any]:
    known = SPECIES_SNOMED.get(species.lower())
    coding = [{"system": SNOMED, "code": known[0], "display": known[1]}] if known else []
    return _concept(species, coding)


def _gender_status(neutered: bool | None) -> dict[str, Any]:
    code, display = {
        True: ("neutered", "Neutered"),
        False: ("intact", "Intact"),
        None: ("unknown", "Unknown"),
    }[neutered]
    return _concept(display, [{"system": GENDER_STATUS, "code": code, "display": display}])


def patient(pet: Mapping[str, Any]) -> Resource:
    """A pet as an animal ``Patient``."""
    animal: list[dict[str, Any]] = [
        {"url": "species", "valueCodeableConcept": _species(str(pet["species"]))}
    ]
    if _text(pet["breed"]):
        animal.append({"url": "breed", "valueCodeableConcept": _concept(pet["breed"])})
    animal.append({"url": "genderStatus", "valueCodeableConcept": _gender_status(pet["neutered"])})
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(pet["id"]),
        "meta": _meta(pet["version"], pet["updated_at"]),
        "extension": [{"url": ANIMAL, "extension": animal}],
        "active": bool(pet["is_active"]),
        "name": [{"use": "usual", "text": pet["name"]}],
        "link": [{"other": _reference("RelatedPerson", pet["id"]), "type": "seealso"}],
    }
    if _text(pet["microchip_id"]):
        resource["identifier"] = [
            {"use": "official", "system": MICROCHIP_SYSTEM, "value": pet["microchip_id"]}
        ]
    sex = pet["sex"]
    if sex is not None:
        resource["gender"] = SEX_TO_GENDER[str(sex)]
    if pet["date_of_birth"] is not None:
        resource["birthDate"] = _day(pet["date_of_birth"])
    return resource


def related_person(pet: Mapping[str, Any], owner: Mapping[str, Any]) -> Resource:
    """The pet's owner as a ``RelatedPerson`` of the pet (id: the pet's)."""
    telecom = [
        {"system": system, "value": owner[field], "use": "home"}
        for system, field in (("phone", "phone"), ("email", "email"))
        if _text(owner[field])
    ]
    resource: Resource = {
        "resourceType": "RelatedPerson",
        "id": str(pet["id"]),
        "meta": {"lastUpdated": _instant(max(pet["updated_at"], owner["updated_at"]))},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{owner['id']}"}],
        "active": True,
        "patient": _reference("Patient", pet["id"]),
        "relationship": [_concept("owner")],
        "name": [{"text": owner["full_name"]}],
    }
    if telecom:
        resource["telecom"] = telecom
    if _text(owner["address"]):
        resource["address"] = [{"text": owner["address"]}]
    return resource


# --------------------------------------------------------------------------- visits


def encounter(visit: Visit) -> Resource:
    """A visit as a finished ambulatory ``Encounter`` of the pet."""
    return {
        "resourceType": "Encounter",
        "id": str(visit.id),
        "meta": _meta(visit.version, visit.updated_at),
        "status": "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": _reference("Patient", visit.pet_id),
        "period": {"start": _instant(visit.visit_date)},
        "serviceProvider": {
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{visit.practice_id}"}
        },
    }


# --------------------------------------------------------------------------- records


def _record_status(record: MedicalRecord) -> str:
    return "amended" if record.version > 1 else "final"


def observations(records: Iterable[MedicalRecord], code: str | None = None) -> list[Resource]:
    """The vital signs of the records (weight, temperature), each an ``Observation``;
    ``code``: only that LOINC code's."""
    found: list[Resource] = []
    for record in records:
        for field, suffix, loinc, display, (unit_code, unit) in VITALS:
            value = getattr(record.content, field)
            if value is None or (code is not None and code != loinc):
                continue
            found.append(
                {
                    "resourceType": "Observation",
                    "id": f"{record.id}-{suffix}",
                    "meta": _meta(record.version, record.updated_at),
                    "status": _record_status(record),
                    "category": [
                        _concept(
                            "Vital Signs",
                            [
                                {
                                    "system": OBSERVATION_CATEGORY,
                                    "code": "vital-signs",
                                    "display": "Vital Signs",
                                }
                            ],
                        )
                    ],
                    "code": _concept(
                        display, [{"system": LOINC, "code": loinc, "display": display}]
                    ),
                    "subject": _reference("Patient", record.pet_id),
                    "effectiveDateTime": _day(record.content.visit_date),
                    "issued": _instant(record.updated_at),
                    "valueQuantity": {
                        "value": _number(value),
                        "unit": unit,
                        "system": UCUM,
                        "code": unit_code,
                    },
                }
            )
    return found


def immunizations(records: Iterable[MedicalRecord]) -> list[Resource]:
    """The vaccination records, each a completed ``Immunization``."""
    found: list[Resource] = []
    for record in records:
        content = record.content
        if content.record_type is not RecordType.VACCINATION:
            continue
        vaccine = _text(content.data.get("vaccine_name")) or content.title
        resource: Resource = {
            "resourceType": "Immunization",
            "id": str(record.id),
            "meta": _meta(record.version, record.updated_at),
            "status": "completed",
            "vaccineCode": _concept(vaccine),
            "patient": _reference("Patient", record.pet_id),
            "occurrenceDateTime": _day(content.visit_date),
            "recorded": _instant(record.created_at),
            "primarySource": True,
        }
        lot = _text(content.data.get("batch")) or _text(content.data.get("lot_number"))
        if lot:
            resource["lotNumber"] = lot
        notes = [text for text in (content.title, content.description) if _text(text)]
        if notes:
            resource["note"] = [{"text": text} for text in notes]
        found.append(resource)
    return found


def _document(
    resource_id: UUID,
    pet_id: UUID,
    meta: Mapping[str, str],
    created: datetime,
    kind: str,
    description: str,
    attachment: Resource,
) -> Resource:
    return {
        "resourceType": "DocumentReference",
        "id": str(resource_id),
        "meta": dict(meta),
        "status": "current",
        "type": _concept(kind),
        "subject": _reference("Patient", pet_id),
        "date": _instant(created),
        "description": description,
        "content": [{"attachment": attachment}],
    }


def document_references(
    records: Sequence[MedicalRecord], attachments: Iterable[Attachment]
) -> list[Resource]:
    """Every medical record (its JSON at the JSON API) and every file attached to one,
    each a ``DocumentReference`` of the pet."""
    found = [
        _document(
            record.id,
            record.pet_id,
            _meta(record.version, record.updated_at),
            record.created_at,
            f"Medical record: {record.content.record_type.value}",
            record.content.title,
            {
                "contentType": "application/json",
                "url": f"{JSON_API}/medical-records/{record.id}",
                "title": record.content.title,
                "creation": _instant(record.created_at),
            },
        )
        for record in records
    ]
    pets = {record.id: record.pet_id for record in records}
    for item in attachments:
        pet_id = pets.get(item.record_id)
        if pet_id is None:
            continue
        document = _document(
            item.id,
            pet_id,
            {"lastUpdated": _instant(item.created_at)},
            item.created_at,
            "Medical record attachment",
            item.description or item.file_name,
            {
                "contentType": item.content_type,
                "url": f"{JSON_API}/attachments/{item.id}/content",
                "size": item.size_bytes,
                "title": item.file_name,
                "creation": _instant(item.created_at),
            },
        )
        document["context"] = {"related": [{"identifier": _record_identifier(item.record_id)}]}
        found.append(document)
    return found


def _record_identifier(record_id: UUID) -> dict[str, str]:
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{record_id}"}


# --------------------------------------------------------------------------- bundles


def searchset(base: str, self_url: str, resources: Sequence[Resource]) -> Resource:
    """A search's answer: every match (no paging: a pet's chart is read whole)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ],
    }


def everything(base: str, self_url: str, chart: PetChart) -> Resource:
    """``Patient/$everything``: the patient, its owner, its encounters, observations,
    immunizations and documents, in that order."""
    pet, owner = vars(chart.pet), vars(chart.owner)
    resources = [
        patient(pet),
        related_person(pet, owner),
        *(encounter(visit) for visit in chart.visits),
        *observations(chart.records),
        *immunizations(chart.records),
        *document_references(chart.records, chart.attachments),
    ]
    return searchset(base, self_url, resources)


# --------------------------------------------------------------------------- the server


def capability_statement(base: str, published: datetime) -> Resource:
    """What this server does (``GET /fhir/R4/metadata``)."""
    searches = {
        "Observation": [("patient", "reference"), ("code", "token")],
        "Immunization": [("patient", "reference")],
        "DocumentReference": [("patient", "reference")],
    }
    reads = {"Patient", "RelatedPerson", "Encounter"}
    resources: list[Resource] = []
    for kind in RESOURCE_TYPES:
        interactions = [{"code": "read"}] if kind in reads else []
        if kind in searches:
            interactions.append({"code": "search-type"})
        entry: Resource = {"type": kind, "interaction": interactions}
        if kind in searches:
            entry["searchParam"] = [{"name": name, "type": kind_} for name, kind_ in searches[kind]]
        if kind == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _instant(published),
        "publisher": "vetchart",
        "kind": "instance",
        "software": {"name": "vetchart"},
        "implementation": {"description": "vetchart FHIR R4 read API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Bearer tokens from /api/v1/auth/token; the "
                "JSON API's scope and audit rules apply.",
                "security": {
                    "service": [
                        _concept(
                            "Bearer token",
                            [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                        )
                    ]
                },
                "resource": resources,
            }
        ],
    }


ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    422: "invalid",
    429: "throttled",
}


def operation_outcome(status: int, detail: str, code: str | None = None) -> Resource:
    """An error as an ``OperationOutcome`` (one issue)."""
    issue: Resource = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_CODES.get(status, "exception" if status >= 500 else "processing"),
        "diagnostics": detail,
    }
    if code:
        issue["details"] = {"text": code}
    return {"resourceType": "OperationOutcome", "issue": [issue]}
