"""Demo data for client messages: Riverside's vaccination reminder rule, the demo owner's
consent to email and SMS, a vaccination of one of their pets falling due soon, and the
reminder scan run once, so `make run` shows reminders and messages (the embedded worker
delivers them: email to the log or SMTP, SMS to the log or Twilio). Idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from vetchart.domain.messaging import Channel, ReminderRule
from vetchart.domain.policy import ClientScope
from vetchart.domain.records import MedicalRecord, PetFacts, RecordContent, RecordType
from vetchart.services.demo import DEMO_PRACTICES
from vetchart.services.demo_parts import DemoSeeder
from vetchart.services.ports.clients import PetFilters
from vetchart.services.ports.notifications import MessageQueries
from vetchart.services.ports.paging import PageRequest
from vetchart.services.ports.records import RecordQueries

DEMO_LEAD_DAYS = (30, 7, 0)
DEMO_DUE_IN_DAYS = 5
DEMO_VACCINATION = "Rabies vaccination"


@dataclass(kw_only=True)
class DemoMessaging(DemoSeeder):
    messages: MessageQueries
    records: RecordQueries
    scan: Callable[[], Awaitable[int]]

    async def seed(self) -> str:
        async with self.uow() as uow:
            riverside = await uow.practices.get_by_name(DEMO_PRACTICES[0][0])
            vet = await uow.users.get_by_email("vet@riverside.vetchart.local")
            account = await uow.users.get_by_email("owner@vetchart.local")
            owner = await uow.pet_owners.get_by_user(account.id) if account else None
        if riverside is None or vet is None or owner is None:
            return "messaging: skipped (demo clients missing)"
        # Each part is made only when it is missing (a database migrated down and up again
        # keeps the records, which are permanent, but not the newer tables).
        rules = await self.messages.rules_page(riverside.id, PageRequest(limit=1))
        pets = await self.clients.pets_page(
            ClientScope(practice_id=riverside.id),
            PetFilters(owner_id=owner.id),
            PageRequest(limit=1),
        )
        now = self.clock.now()
        made: list[str] = []
        async with self.uow() as uow:
            if not rules.items:
                await uow.messaging.add_rule(
                    ReminderRule(
                        id=self.ids.new_id(),
                        practice_id=riverside.id,
                        record_type=RecordType.VACCINATION,
                        species=None,
                        lead_days=DEMO_LEAD_DAYS,
                        active=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
                made.append("Riverside's vaccination rule")
            if not any(c.granted for c in await uow.messaging.consents(owner.id)):
                for channel in Channel:
                    await uow.messaging.set_consent(owner.id, channel, True, now, None)
                made.append("the demo owner's consent")
            for view in pets.items:
                pet = view.pet
                visit = now.date() - timedelta(days=365 - DEMO_DUE_IN_DAYS)
                if pet.date_of_birth is not None and visit < pet.date_of_birth:
                    continue
                records = await self.records.pet_records(pet.id)
                if any(r.content.title == DEMO_VACCINATION for r in records):
                    continue
                await uow.records.add(
                    MedicalRecord.create(
                        record_id=self.ids.new_id(),
                        pet=PetFacts(pet.id, pet.species, pet.date_of_birth, pet.is_active),
                        practice_id=riverside.id,
                        author_id=vet.id,
                        content=RecordContent(
                            record_type=RecordType.VACCINATION,
                            title=DEMO_VACCINATION,
                            visit_date=visit,
                            follow_up_required=False,
                            data={
                                "vaccine_name": "Rabies",
                                "next_due": (
                                    now.date() + timedelta(days=DEMO_DUE_IN_DAYS)
                                ).isoformat(),
                            },
                        ),
                        now=now,
                    )
                )
                made.append("a vaccination due")
            await uow.commit()
        summary = ", ".join(made) if made else "rule, consent and vaccination already there"
        created = await self.scan()
        return f"messaging: {summary}; {created} reminders due now"
