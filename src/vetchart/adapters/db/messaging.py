"""The messaging tables: channel consent, the message log, reminder rules, and the
reminder scan (each reminder made once, by its unique key)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vetchart.adapters.db.queries import ReadQueries
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.tables import (
    appointments,
    medical_records,
    message_consents,
    messages,
    pets,
    reminder_rules,
    reminders,
)
from vetchart.domain.messaging import (
    BOOKED_STATUSES,
    MAX_LEAD_DAYS,
    Channel,
    ChannelConsent,
    MessageKind,
    MessageStatus,
    ReminderDue,
    ReminderRule,
    SkipReason,
)
from vetchart.domain.records import RecordStatus, RecordType, parse_next_due
from vetchart.services.ports.notifications import IdSource, LoggedMessage
from vetchart.services.ports.paging import Page, PageRequest

_MESSAGES = EntityRows(
    LoggedMessage,
    columns_of(messages),
    enums={
        "kind": MessageKind,
        "channel": Channel,
        "status": MessageStatus,
        "reason": SkipReason,
    },
)
_RULES = EntityRows(
    ReminderRule,
    columns_of(reminder_rules),
    enums={"record_type": RecordType},
    read={"lead_days": tuple},
    write={"lead_days": list},
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SqlMessagingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # ------------------------------------------------------------------ consent

    async def consents(self, owner_id: UUID) -> list[ChannelConsent]:
        query = select(message_consents).where(message_consents.c.pet_owner_id == owner_id)
        stored = {row["channel"]: row for row in (await self._session.execute(query)).mappings()}
        found: list[ChannelConsent] = []
        for channel in Channel:
            row = stored.get(channel.value)
            found.append(
                ChannelConsent(
                    channel=channel,
                    granted=bool(row and row["granted"]),
                    changed_at=row["changed_at"] if row else None,
                    changed_by=row["changed_by"] if row else None,
                )
            )
        return found

    async def set_consent(
        self, owner_id: UUID, channel: Channel, granted: bool, now: datetime, by: UUID | None
    ) -> None:
        values = {"granted": granted, "changed_at": now, "changed_by": by}
        statement = pg_insert(message_consents).values(
            pet_owner_id=owner_id, channel=channel.value, **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[message_consents.c.pet_owner_id, message_consents.c.channel],
                set_=values,
            )
        )

    async def erase_owner(self, owner_id: UUID) -> int:
        await self._session.execute(
            delete(message_consents).where(message_consents.c.pet_owner_id == owner_id)
        )
        result = await self._session.execute(
            update(messages)
            .where(messages.c.pet_owner_id == owner_id)
            .values(recipient=None, subject=None, body=None)
            .returning(messages.c.id)
        )
        return len(result.all())

    # ------------------------------------------------------------------ the log

    async def logged(self, event_id: UUID, channel: Channel) -> bool:
        query = select(
            exists().where(messages.c.event_id == event_id, messages.c.channel == channel.value)
        )
        return bool((await self._session.execute(query)).scalar())

    async def log(self, message: LoggedMessage) -> None:
        await self._session.execute(insert(messages).values(**_MESSAGES.values(message)))

    # ------------------------------------------------------------------ rules

    async def add_rule(self, rule: ReminderRule) -> None:
        await self._session.execute(insert(reminder_rules).values(**_RULES.values(rule)))

    async def get_rule(self, rule_id: UUID, *, for_update: bool = False) -> ReminderRule | None:
        query = select(reminder_rules).where(reminder_rules.c.id == rule_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _RULES.entity(row) if row else None

    async def save_rule(self, rule: ReminderRule) -> None:
        await self._session.execute(
            update(reminder_rules)
            .where(reminder_rules.c.id == rule.id)
            .values(**_RULES.updated(rule))
        )

    async def delete_rule(self, rule_id: UUID) -> None:
        await self._session.execute(delete(reminder_rules).where(reminder_rules.c.id == rule_id))

    # ------------------------------------------------------------------ the scan

    async def create_due_reminders(
        self, today: date, now: datetime, appointments_until: datetime, new_id: IdSource
    ) -> list[ReminderDue]:
        rows = [
            *await self._vaccination_reminders(today, now, new_id),
            *await self._appointment_reminders(now, appointments_until, new_id),
        ]
        if not rows:
            return []
        statement = (
            pg_insert(reminders)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[reminders.c.dedupe_key])
            .returning(
                reminders.c.id,
                reminders.c.kind,
                reminders.c.practice_id,
                reminders.c.pet_owner_id,
                reminders.c.pet_id,
                reminders.c.record_id,
                reminders.c.appointment_id,
                reminders.c.due_on,
            )
        )
        created = (await self._session.execute(statement)).mappings().all()
        return [
            ReminderDue(
                reminder_id=row["id"],
                kind=MessageKind(row["kind"]).value,
                practice_id=row["practice_id"],
                pet_owner_id=row["pet_owner_id"],
                pet_id=row["pet_id"],
                record_id=row["record_id"],
                appointment_id=row["appointment_id"],
                due_on=row["due_on"],
            )
            for row in sorted(created, key=lambda row: str(row["id"]))
        ]

    async def _vaccination_reminders(
        self, today: date, now: datetime, new_id: IdSource
    ) -> list[dict[str, Any]]:
        """Per active record and matching active rule: the reminder of the shortest lead
        time whose day has come (an earlier one missed is not sent late as well). Only the
        pet's latest vaccination with that vaccine counts (a booster given early replaces
        the older record's due date). ``next_due`` is compared as ISO text (it may be any
        JSON in older rows), then parsed here."""
        due = medical_records.c.data["next_due"].astext
        newer = aliased(medical_records)
        query = (
            select(
                medical_records.c.id.label("record_id"),
                medical_records.c.practice_id,
                pets.c.id.label("pet_id"),
                pets.c.owner_id,
                reminder_rules.c.id.label("rule_id"),
                reminder_rules.c.lead_days,
                due.label("next_due"),
            )
            .join(pets, pets.c.id == medical_records.c.pet_id)
            .join(
                reminder_rules,
                and_(
                    reminder_rules.c.practice_id == medical_records.c.practice_id,
                    reminder_rules.c.record_type == medical_records.c.record_type,
                    reminder_rules.c.active,
                    or_(
                        reminder_rules.c.species.is_(None),
                        reminder_rules.c.species == func.lower(pets.c.species),
                    ),
                ),
            )
            .where(
                medical_records.c.record_type == RecordType.VACCINATION.value,
                medical_records.c.status == RecordStatus.ACTIVE.value,
                pets.c.is_active,
                due >= today.isoformat(),
                due <= (today + timedelta(days=MAX_LEAD_DAYS)).isoformat(),
                ~exists().where(
                    newer.c.pet_id == medical_records.c.pet_id,
                    newer.c.record_type == medical_records.c.record_type,
                    newer.c.status == RecordStatus.ACTIVE.value,
                    newer.c.data["vaccine_name"].astext
                    == medical_records.c.data["vaccine_name"].astext,
                    or_(
                        newer.c.visit_date > medical_records.c.visit_date,
                        and_(
                            newer.c.visit_date == medical_records.c.visit_date,
                            newer.c.id > medical_records.c.id,
                        ),
                    ),
                ),
            )
        )
        found: list[dict[str, Any]] = []
        for row in (await self._session.execute(query)).mappings():
            next_due = parse_next_due(row["next_due"]) if _ISO_DATE.match(row["next_due"]) else None
            if next_due is None:
                continue
            come = [days for days in row["lead_days"] if next_due - timedelta(days=days) <= today]
            if not come:
                continue
            lead = min(come)
            key = f"vaccination:{row['record_id']}:{row['rule_id']}:{lead}:{next_due.isoformat()}"
            found.append(
                {
                    "id": new_id(),
                    "dedupe_key": key,
                    "kind": MessageKind.VACCINATION_REMINDER.value,
                    "practice_id": row["practice_id"],
                    "pet_owner_id": row["owner_id"],
                    "pet_id": row["pet_id"],
                    "record_id": row["record_id"],
                    "appointment_id": None,
                    "rule_id": row["rule_id"],
                    "due_on": next_due,
                    "created_at": now,
                }
            )
        return found

    async def _appointment_reminders(
        self, now: datetime, until: datetime, new_id: IdSource
    ) -> list[dict[str, Any]]:
        query = select(
            appointments.c.id,
            appointments.c.practice_id,
            appointments.c.pet_owner_id,
            appointments.c.start_at,
        ).where(
            appointments.c.status.in_(sorted(BOOKED_STATUSES)),
            appointments.c.start_at > now,
            appointments.c.start_at <= until,
        )
        return [
            {
                "id": new_id(),
                "dedupe_key": f"appointment:{row['id']}:{row['start_at'].isoformat()}",
                "kind": MessageKind.APPOINTMENT_REMINDER.value,
                "practice_id": row["practice_id"],
                "pet_owner_id": row["pet_owner_id"],
                "pet_id": None,
                "record_id": None,
                "appointment_id": row["id"],
                "rule_id": None,
                "due_on": row["start_at"].date(),
                "created_at": now,
            }
            for row in (await self._session.execute(query)).mappings()
        ]


class SqlMessageQueries(ReadQueries):
    async def messages_page(
        self, owner_id: UUID, practice_id: UUID | None, page: PageRequest
    ) -> Page[LoggedMessage]:
        query = select(messages).where(messages.c.pet_owner_id == owner_id)
        if practice_id is not None:
            query = query.where(messages.c.practice_id == practice_id)
        return await self._page(
            query,
            page,
            (messages.c.created_at, messages.c.id),
            _MESSAGES.entity,
            newest_first=True,
        )

    async def rules_page(self, practice_id: UUID, page: PageRequest) -> Page[ReminderRule]:
        query = select(reminder_rules).where(reminder_rules.c.practice_id == practice_id)
        return await self._page(
            query, page, (reminder_rules.c.created_at, reminder_rules.c.id), _RULES.entity
        )
