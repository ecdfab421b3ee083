"""/fhir/R4: a read-only FHIR R4 view of pets, owners, visits and medical records.

The same services, scope and audit rules as the JSON API (docs/fhir.md): out of scope is
404, every read of client or medical data leaves its audit row (each route declares its
own ``FHIR_*`` action), errors are ``OperationOutcome`` (api/fhir.py). The resources are
built by api/presenters/fhir.py. These routes are not in the OpenAPI document: a FHIR
server describes itself with its CapabilityStatement (``GET /fhir/R4/metadata``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from vetchart.api.dependencies import ChartsDep, ClockDep, PetsDep, VisitsDep
from vetchart.api.fhir import FHIR_PREFIX, FhirResponse, FhirRoute, fhir_response
from vetchart.api.presenters import fhir as present
from vetchart.api.route_audit import audited
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import RuleViolation
from vetchart.services.charts import PetChart

router = APIRouter(
    prefix=FHIR_PREFIX, tags=["fhir"], route_class=FhirRoute, include_in_schema=False
)

# ``patient=``: "Patient/<id>", a full URL ending so, or the bare id.
_PATIENT = re.compile(
    r"^(?:.*/)?(?:Patient/)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
PatientParam = Annotated[
    str,
    Query(
        min_length=1,
        max_length=300,
        description="The patient: `Patient/<id>` or the id (required).",
    ),
]
CodeParam = Annotated[str | None, Query(min_length=1, max_length=200)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


def _patient_id(value: str) -> UUID:
    match = _PATIENT.match(value.strip())
    if match is None:
        raise RuleViolation(
            "patient must be Patient/<id> with the pet's id.",
            rule="fhir.patient_reference",
            field="patient",
        )
    return UUID(match.group(1))


def _loinc_code(token: str | None) -> str | None:
    """A token search value: ``code`` or ``system|code`` (the system must be LOINC)."""
    if token is None:
        return None
    system, _, code = token.rpartition("|")
    if system not in ("", present.LOINC) or not code:
        raise RuleViolation(
            "code must be a LOINC code, optionally as http://loinc.org|<code>.",
            rule="fhir.code_token",
            field="code",
        )
    return code


def _etag(version: object) -> dict[str, str]:
    return {"ETag": f'W/"{version}"'}


@audited(AuditAction.FHIR_METADATA)
@router.get("/metadata")
async def metadata(request: Request, clock: ClockDep) -> FhirResponse:
    """The CapabilityStatement (public)."""
    return fhir_response(present.capability_statement(_base(request), clock.now()))


@audited(AuditAction.FHIR_PATIENT_READ)
@router.get("/Patient/{pet_id}")
async def read_patient(
    pet_id: UUID, response: Response, principal: CurrentPrincipal, pets: PetsDep, meta: MetaDep
) -> FhirResponse:
    row = await pets.get(principal, pet_id, meta, AuditAction.FHIR_PATIENT_READ)
    pet, _ = present.pet_fields(row)
    return fhir_response(present.patient(pet), response, headers=_etag(row["version"]))


@audited(AuditAction.FHIR_PATIENT_EVERYTHING)
@router.get("/Patient/{pet_id}/$everything")
async def patient_everything(
    pet_id: UUID,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    charts: ChartsDep,
    meta: MetaDep,
) -> FhirResponse:
    chart = await charts.chart(principal, pet_id, AuditAction.FHIR_PATIENT_EVERYTHING, meta)
    return fhir_response(present.everything(_base(request), str(request.url), chart), response)


@audited(AuditAction.FHIR_RELATED_PERSON_READ)
@router.get("/RelatedPerson/{pet_id}")
async def read_related_person(
    pet_id: UUID, response: Response, principal: CurrentPrincipal, pets: PetsDep, meta: MetaDep
) -> FhirResponse:
    """The owner of ``Patient/{pet_id}`` (a RelatedPerson is one person's relation to one
    patient: its id is the patient's)."""
    row = await pets.get(principal, pet_id, meta, AuditAction.FHIR_RELATED_PERSON_READ)
    pet, owner = present.pet_fields(row)
    return fhir_response(present.related_person(pet, owner), response)


@audited(AuditAction.FHIR_ENCOUNTER_READ)
@router.get("/Encounter/{visit_id}")
async def read_encounter(
    visit_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
) -> FhirResponse:
    visit = await visits.get(principal, visit_id, meta, AuditAction.FHIR_ENCOUNTER_READ)
    return fhir_response(present.encounter(visit), response, headers=_etag(visit.version))


@dataclass(frozen=True)
class ChartSearch:
    """A search in one patient's chart (``GET /{kind}?patient=``): who asks, about which
    patient, and the searchset that answers (a dependency of the search routes)."""

    request: Request
    response: Response
    principal: CurrentPrincipal
    charts: ChartsDep
    meta: MetaDep
    patient: PatientParam

    async def chart(self, action: AuditAction) -> PetChart:
        """The patient's chart, read (and audited) as ``action``."""
        return await self.charts.chart(self.principal, _patient_id(self.patient), action, self.meta)

    def answer(self, found: Sequence[present.Resource]) -> FhirResponse:
        """The bundle of what the search ``found``, linking to this request."""
        searchset = present.searchset(_base(self.request), str(self.request.url), found)
        return fhir_response(searchset, self.response)


ChartSearchDep = Annotated[ChartSearch, Depends()]


@audited(AuditAction.FHIR_OBSERVATION_SEARCH)
@router.get("/Observation")
async def search_observations(search: ChartSearchDep, code: CodeParam = None) -> FhirResponse:
    """The patient's weights and temperatures (``code``: one LOINC code's)."""
    wanted = _loinc_code(code)
    chart = await search.chart(AuditAction.FHIR_OBSERVATION_SEARCH)
    return search.answer(present.observations(chart.records, wanted))


def _chart_search(
    kind: str,
    name: str,
    action: AuditAction,
    resources: Callable[[PetChart], Sequence[present.Resource]],
) -> None:
    """``GET /{kind}?patient=``: the ``resources`` of the patient's chart, as a searchset."""

    @audited(action)
    async def search_chart(search: ChartSearchDep) -> FhirResponse:
        return search.answer(resources(await search.chart(action)))

    router.add_api_route(f"/{kind}", search_chart, methods=["GET"], name=name)


_chart_search(
    "Immunization",
    "search_immunizations",
    AuditAction.FHIR_IMMUNIZATION_SEARCH,
    lambda chart: present.immunizations(chart.records),
)
_chart_search(
    "DocumentReference",
    "search_documents",
    AuditAction.FHIR_DOCUMENT_SEARCH,
    lambda chart: present.document_references(chart.records, chart.attachments),
)
