"""A pet's chart: the pet, its owner and everything recorded about it, read at once.

The read behind the FHIR API's searches by patient and ``Patient/$everything``
(api/fhir/): the pet in the caller's scope (404 otherwise) with its owner, its current
medical records (not those entered in error), their attachments and its visits. One
audit row naming the pet (the action the caller's route declared) is committed before
anything of the chart is read; the statements are the same few whatever the pet holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from vetchart.domain.appointments import Visit
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import NotFound
from vetchart.domain.owners import PetOwner
from vetchart.domain.pets import Pet
from vetchart.domain.policy import Action, Principal, client_scope, require
from vetchart.domain.records import MedicalRecord
from vetchart.services.audit import record_read
from vetchart.services.ports.records import Attachment, RecordQueries
from vetchart.services.ports.schedule import ScheduleQueries
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory

# The reads of a whole chart (the FHIR API's): the actions its audit row may name.
CHART_READS = frozenset(
    {
        AuditAction.FHIR_PATIENT_EVERYTHING,
        AuditAction.FHIR_OBSERVATION_SEARCH,
        AuditAction.FHIR_IMMUNIZATION_SEARCH,
        AuditAction.FHIR_DOCUMENT_SEARCH,
    }
)


@dataclass(frozen=True)
class PetChart:
    pet: Pet
    owner: PetOwner
    records: list[MedicalRecord]
    attachments: list[Attachment]
    visits: list[Visit]


class ChartService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        records: RecordQueries,
        schedule: ScheduleQueries,
    ) -> None:
        self._uow = uow
        self._records = records
        self._schedule = schedule

    async def chart(
        self, actor: Principal, pet_id: UUID, action: AuditAction, meta: RequestMeta
    ) -> PetChart:
        """The pet's chart (a read of its medical data: ``action``, one of
        ``CHART_READS``, names the row)."""
        if action not in CHART_READS:
            raise ValueError(f"{action.name} is not a read of a chart")
        require(actor, Action.MEDICAL_RECORD_READ)
        scope = client_scope(actor)
        async with self._uow() as uow:
            pet = await uow.pets.get(pet_id, scope)
            if pet is None:
                raise NotFound("Patient not found.")
            owner = await uow.pet_owners.get(pet.owner_id, scope)
            practices = await uow.pets.care_practices(pet_id, scope)
            if owner is None or practices is None:  # the pet's scope is its owner's
                raise NotFound("Patient not found.")
            record_read(
                uow,
                meta,
                actor,
                action,
                pet_id,
                data_practice_ids=practices if actor.practice_id is None else [actor.practice_id],
                pet_id=pet_id,
            )
            await uow.commit()
        return PetChart(
            pet=pet,
            owner=owner,
            records=await self._records.pet_records(pet_id),
            attachments=await self._records.pet_attachments(pet_id),
            visits=await self._schedule.pet_visits(pet_id),
        )
