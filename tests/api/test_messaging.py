"""Client messages and reminders end to end: consent (opt in / out), appointment messages
by email (with an .ics file) and SMS (through Twilio's API, at a local fake server),
sent from the outbox at least once and never twice per event, the message log, reminder
rules, data.next_due, and the reminder scan (each reminder once)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from icalendar import Calendar
from sqlalchemy import delete, select

from tests.api.auth_helpers import (
    ADMIN,
    API,
    HILLCREST_MANAGER,
    HILLCREST_TECH,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.api.clients_helpers import RecordingMailer, assert_problem, table_rows
from tests.api.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilio, fake_twilio
from tests.api.sql_counter import count_statements
from tests.fixtures.fakes import FakeClock
from tests.fixtures.world import World, open_world
from vetchart.adapters.db.tables import messages, outbox_events, reminder_rules, reminders
from vetchart.adapters.notifications import EmailChannel, SmsRejected, TwilioSms
from vetchart.bootstrap import demo_seeders
from vetchart.config import RateLimitSettings
from vetchart.domain.messaging import Channel, MessageKind, MessageStatus, SkipReason
from vetchart.domain.owners import AssociationStatus
from vetchart.services.messages import ReminderScan
from vetchart.services.ports.notifications import LoggedMessage

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Env:
    world: World
    twilio: FakeTwilio
    mailer: RecordingMailer

    @property
    def client(self) -> Any:
        return self.world.client

    async def client_with_pet(
        self, *, consent: dict[str, bool] | None = None, phone: str | None = "+15551230001"
    ) -> tuple[str, str]:
        """A new Riverside client (email and phone) with a dog; consent as given."""
        owner = await self.world.create_owner(
            RIVERSIDE_TECH, email=f"client{id(object())}@example.com", phone=phone
        )
        pet = await self.world.create_pet(RIVERSIDE_TECH, owner["id"], name="Rex")
        if consent:
            response = await self.client.patch(
                f"{API}/pet-owners/{owner['id']}/message-consent",
                json=consent,
                headers=await self.world.h(RIVERSIDE_TECH),
            )
            assert response.status_code == 200, response.text
        return owner["id"], pet["id"]

    async def book(self, owner_id: str, pet_id: str, start: datetime) -> dict[str, Any]:
        body = {
            "pet_owner_id": owner_id,
            "pet_ids": [pet_id],
            "assigned_vet_id": str(self.world.users[RIVERSIDE_VET].id),
            "start_at": start.isoformat(),
            "duration_minutes": 30,
            "appointment_type": "checkup",
            "title": "Annual check-up",
        }
        response = await self.client.post(
            f"{API}/practices/{self.world.riverside}/appointments",
            json=body,
            headers=await self.world.h(RIVERSIDE_TECH),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def log(self, owner_id: str) -> list[dict[str, Any]]:
        return await table_rows(
            self.world.app,
            messages,
            messages.c.pet_owner_id == UUID(owner_id),
            order_by=[messages.c.created_at, messages.c.id],
        )

    async def event_ids(self, appointment_id: str) -> list[UUID]:
        query = (
            select(outbox_events.c.id)
            .where(
                outbox_events.c.event_type == "AppointmentChanged",
                outbox_events.c.payload["appointment_id"].astext == appointment_id,
            )
            .order_by(outbox_events.c.occurred_at, outbox_events.c.id)
        )
        async with self.world.container.engine.connect() as conn:
            return [row.id for row in await conn.execute(query)]

    def scan(self, now: datetime | None = None) -> ReminderScan:
        container = self.world.container
        return ReminderScan(
            uow=container.uow,
            clock=FakeClock(now) if now else container.clock,
            ids=container.ids,
            appointment_lead=timedelta(hours=24),
        )


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(pg_server_url: str, template_database: str, twilio: FakeTwilio) -> AsyncIterator[Env]:
    async with open_world(
        pg_server_url, template_database, "messaging", rate_limit=RateLimitSettings(enabled=False)
    ) as world:
        await world.seed_demo()
        mailer = RecordingMailer()
        sender = world.container.client_messages
        sender.notifiers[Channel.EMAIL] = EmailChannel(mailer)
        sender.notifiers[Channel.SMS] = TwilioSms(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            sender=SENDER,
            base_url=twilio.base_url,
            timeout_seconds=5,
        )
        yield Env(world=world, twilio=twilio, mailer=mailer)


def _later(days: int, hour: int = 10) -> datetime:
    start = datetime.now(UTC) + timedelta(days=days)
    return start.replace(hour=hour, minute=0, second=0, microsecond=0)


def _calendar(message: Any) -> Calendar:
    (attachment,) = message.attachments
    assert attachment.filename == "appointment.ics"
    assert attachment.content_type.startswith("text/calendar")
    return Calendar.from_ical(attachment.data)


# --------------------------------------------------------------------------- consent


async def test_consent_starts_off_and_the_owner_and_staff_change_it(env: Env) -> None:
    w = env.world
    owner_id, _ = await env.client_with_pet()
    url = f"{API}/pet-owners/{owner_id}/message-consent"
    first = await env.client.get(url, headers=await w.h(RIVERSIDE_TECH))
    assert first.status_code == 200
    assert [(c["channel"], c["granted"]) for c in first.json()["channels"]] == [
        ("email", False),
        ("sms", False),
    ]
    staff = await env.client.patch(url, json={"email": True}, headers=await w.h(RIVERSIDE_TECH))
    assert staff.status_code == 200
    channels = {c["channel"]: c for c in staff.json()["channels"]}
    assert channels["email"]["granted"] is True
    assert channels["email"]["changed_by"] == str(w.users[RIVERSIDE_TECH].id)
    assert channels["sms"]["granted"] is False
    # Opting out again is the same call.
    out = await env.client.patch(url, json={"email": False}, headers=await w.h(RIVERSIDE_TECH))
    assert {c["channel"]: c["granted"] for c in out.json()["channels"]} == {
        "email": False,
        "sms": False,
    }


async def test_the_owner_opts_out_of_their_own_sms(env: Env) -> None:
    w = env.world
    async with w.container.uow() as uow:
        owner = await uow.pet_owners.get_by_user(w.users[OWNER].id)
    assert owner is not None
    url = f"{API}/pet-owners/{owner.id}/message-consent"
    assert (
        await env.client.patch(url, json={"sms": True}, headers=await w.h(OWNER))
    ).status_code == 200
    response = await env.client.patch(url, json={"sms": False}, headers=await w.h(OWNER))
    assert response.status_code == 200
    assert {c["channel"]: c["granted"] for c in response.json()["channels"]}["sms"] is False


async def test_bad_consent_input_is_refused_and_changes_nothing(env: Env) -> None:
    w = env.world
    owner_id, _ = await env.client_with_pet(consent={"email": True})
    url = f"{API}/pet-owners/{owner_id}/message-consent"
    headers = await w.h(RIVERSIDE_TECH)
    for body in ({"sms": None}, {"fax": True}, {"email": "yes please"}):
        assert_problem(await env.client.patch(url, json=body, headers=headers), 422)
    # Another practice's staff do not see the owner at all.
    assert_problem(
        await env.client.patch(url, json={"email": False}, headers=await w.h(HILLCREST_TECH)),
        404,
    )
    after = (await env.client.get(url, headers=headers)).json()["channels"]
    assert {c["channel"]: c["granted"] for c in after} == {"email": True, "sms": False}


# --------------------------------------------------------------------------- sending


async def test_a_booking_sends_one_email_with_ics_and_one_sms_even_when_run_twice(
    env: Env,
) -> None:
    owner_id, pet_id = await env.client_with_pet(consent={"email": True, "sms": True})
    mails, smses = len(env.mailer.sent), len(env.twilio.delivered)
    appointment = await env.book(owner_id, pet_id, _later(3))
    await env.world.deliver_events()

    assert len(env.twilio.delivered) == smses + 1
    sms = env.twilio.delivered[-1]
    assert (sms.username, sms.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert sms.form["To"] == "+15551230001"
    assert sms.form["From"] == SENDER
    assert "Rex" in sms.form["Body"]
    assert len(env.mailer.sent) == mails + 1
    mail = env.mailer.sent[-1]
    (event_id,) = await env.event_ids(appointment["id"])
    assert mail.message_id == str(event_id)
    calendar = _calendar(mail)
    assert str(calendar["METHOD"]) == "REQUEST"
    (entry,) = calendar.walk("VEVENT")
    assert str(entry["UID"]) == f"{appointment['id']}@vetchart"
    assert entry.decoded("DTSTART") == datetime.fromisoformat(appointment["start_at"])
    assert int(entry["SEQUENCE"]) == 0

    # The worker runs the handlers again (a redelivery), and the handler itself twice.
    await env.world.container.delivery.deliver(event_id)
    sender = env.world.container.client_messages
    async with env.world.container.uow() as uow:
        event = await uow.outbox.get(event_id)
        assert event is not None
        await sender.send(uow, event, Channel.SMS)
        await uow.commit()
    assert len(env.twilio.delivered) == smses + 1
    assert len(env.mailer.sent) == mails + 1

    log = await env.log(owner_id)
    assert [(r["channel"], r["status"], r["kind"]) for r in log] == [
        ("email", "sent", "appointment_confirmation"),
        ("sms", "sent", "appointment_confirmation"),
    ]
    assert log[1]["provider_id"]
    assert log[1]["provider_id"].startswith("SM")
    assert {r["event_id"] for r in log} == {event_id}


async def test_a_failure_at_twilio_is_retried_and_succeeds_exactly_once(env: Env) -> None:
    owner_id, pet_id = await env.client_with_pet(consent={"email": True, "sms": True})
    mails, requests = len(env.mailer.sent), len(env.twilio.requests)
    appointment = await env.book(owner_id, pet_id, _later(4))
    (event_id,) = await env.event_ids(appointment["id"])
    env.twilio.fail_next = 1
    with pytest.raises(SmsRejected):
        await env.world.container.delivery.deliver(event_id)
    # The email went out and is logged; the SMS attempt left nothing behind.
    assert [(r["channel"], r["status"]) for r in await env.log(owner_id)] == [("email", "sent")]
    outcome = await env.world.container.delivery.deliver(event_id)  # the job's retry
    # The SMS now (and the subscribers after it that the failure held up, e.g. webhooks);
    # the email is not sent again.
    assert "messages.sms" in outcome.handled
    assert "messages.email" not in outcome.handled
    assert "messages.email" in outcome.skipped
    tried = env.twilio.requests[requests:]
    assert [r.status for r in tried] == [500, 201]
    assert len(env.mailer.sent) == mails + 1
    assert [(r["channel"], r["status"]) for r in await env.log(owner_id)] == [
        ("email", "sent"),
        ("sms", "sent"),
    ]


async def test_without_consent_nothing_is_sent_and_the_log_says_why(env: Env) -> None:
    owner_id, pet_id = await env.client_with_pet(consent={"email": True}, phone=None)
    mails, requests = len(env.mailer.sent), len(env.twilio.requests)
    await env.book(owner_id, pet_id, _later(5))
    await env.world.deliver_events()
    assert len(env.twilio.requests) == requests
    assert len(env.mailer.sent) == mails + 1
    log = await env.log(owner_id)
    assert [(r["channel"], r["status"], r["reason"]) for r in log] == [
        ("email", "sent", None),
        ("sms", "skipped", "no_consent"),
    ]
    # What was not sent keeps no address and no text.
    assert log[1]["recipient"] is None
    assert log[1]["body"] is None
    # Consent without a phone number: skipped, no_address.
    await env.client.patch(
        f"{API}/pet-owners/{owner_id}/message-consent",
        json={"sms": True},
        headers=await env.world.h(RIVERSIDE_TECH),
    )
    await env.book(owner_id, pet_id, _later(5, hour=14))
    await env.world.deliver_events()
    assert len(env.twilio.requests) == requests
    assert (await env.log(owner_id))[-1]["reason"] == SkipReason.NO_ADDRESS.value


async def test_a_move_and_a_cancellation_update_the_calendar_entry(env: Env) -> None:
    owner_id, pet_id = await env.client_with_pet(consent={"email": True})
    appointment = await env.book(owner_id, pet_id, _later(6))
    headers = await env.world.h(RIVERSIDE_TECH)
    moved = await env.client.patch(
        f"{API}/appointments/{appointment['id']}",
        json={"start_at": _later(6, hour=15).isoformat()},
        headers=headers | {"If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    # A change of notes only tells the client nothing.
    noted = await env.client.patch(
        f"{API}/appointments/{appointment['id']}",
        json={"notes": "bring the vaccination card"},
        headers=headers | {"If-Match": '"2"'},
    )
    assert noted.status_code == 200, noted.text
    cancelled = await env.client.post(
        f"{API}/appointments/{appointment['id']}/status",
        json={"status": "cancelled"},
        headers=headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    mails = len(env.mailer.sent)
    await env.world.deliver_events()
    kinds = [r["kind"] for r in await env.log(owner_id) if r["channel"] == "email"]
    assert kinds == [
        MessageKind.APPOINTMENT_CONFIRMATION.value,
        MessageKind.APPOINTMENT_CHANGE.value,
        MessageKind.APPOINTMENT_CANCELLATION.value,
    ]
    assert len(env.mailer.sent) == mails + 3
    change, cancel = env.mailer.sent[-2:]
    moved_entry = _calendar(change).walk("VEVENT")[0]
    assert int(moved_entry["SEQUENCE"]) == 1
    assert moved_entry.decoded("DTSTART") == _later(6, hour=15)
    cancel_calendar = _calendar(cancel)
    assert str(cancel_calendar["METHOD"]) == "CANCEL"
    assert str(cancel_calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


# --------------------------------------------------------------------------- the message log


async def test_the_message_log_is_scoped_and_costs_the_same_for_any_length(env: Env) -> None:
    w = env.world
    owner_id, _ = await env.client_with_pet()
    # The owner becomes a client of Hillcrest too (approved).
    async with w.container.uow() as uow:
        await uow.associations.add(
            w.make_association(
                UUID(owner_id),
                w.hillcrest,
                AssociationStatus.APPROVED,
                by=w.users[HILLCREST_MANAGER].id,
            )
        )
        await uow.commit()

    async def add(count: int, practice_id: UUID) -> None:
        async with w.container.uow() as uow:
            for _ in range(count):
                await uow.messaging.log(
                    LoggedMessage(
                        id=w.new_id(),
                        pet_owner_id=UUID(owner_id),
                        practice_id=practice_id,
                        event_id=w.new_id(),
                        kind=MessageKind.VACCINATION_REMINDER,
                        channel=Channel.EMAIL,
                        status=MessageStatus.SENT,
                        reason=None,
                        recipient="someone@example.com",
                        subject="Rex is due",
                        body="Rex is due for Rabies.",
                        provider_id=None,
                        created_at=w.now(),
                    )
                )
            await uow.commit()

    url = f"{API}/pet-owners/{owner_id}/messages"
    await add(2, w.riverside)
    with count_statements(w.app) as few:
        small = await env.client.get(url, headers=await w.h(RIVERSIDE_TECH))
    assert small.status_code == 200
    await add(40, w.riverside)
    await add(3, w.hillcrest)
    with count_statements(w.app) as many:
        large = await env.client.get(url, headers=await w.h(RIVERSIDE_TECH))
    assert few.count == many.count, (few.report(), many.report())
    assert len(large.json()["items"]) == 42
    riverside = large.json()["items"]
    assert {item["practice_id"] for item in riverside} == {str(w.riverside)}
    hillcrest = await env.client.get(url, headers=await w.h(HILLCREST_TECH))
    assert len(hillcrest.json()["items"]) == 3
    everything = await env.client.get(url, params={"limit": 200}, headers=await w.h(ADMIN))
    assert len(everything.json()["items"]) == 45
    # Pages follow the cursor, newest first, each item once.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
        page = await env.client.get(url, params=params, headers=await w.h(RIVERSIDE_MANAGER))
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [item["id"] for item in riverside]
    assert_problem(
        await env.client.get(url, params={"limit": 0}, headers=await w.h(RIVERSIDE_TECH)), 422
    )
    assert_problem(
        await env.client.get(url, params={"cursor": "forged"}, headers=await w.h(RIVERSIDE_TECH)),
        400,
    )


# --------------------------------------------------------------------------- rules


async def test_reminder_rules_are_managed_by_the_practice_admin(env: Env) -> None:
    w = env.world
    url = f"{API}/practices/{w.riverside}/reminder-rules"
    admin = await w.h(RIVERSIDE_MANAGER)
    created = await env.client.post(
        url,
        json={"record_type": "vaccination", "lead_days": [7, 30, 7], "species": " Dog "},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["lead_days"] == [30, 7]
    assert rule["species"] == "dog"
    listed = await env.client.get(url, headers=await w.h(RIVERSIDE_VET))
    assert rule["id"] in [item["id"] for item in listed.json()["items"]]
    changed = await env.client.patch(
        f"{API}/reminder-rules/{rule['id']}", json={"species": None, "active": False}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["species"], changed.json()["active"]) == (None, False)
    deleted = await env.client.delete(f"{API}/reminder-rules/{rule['id']}", headers=admin)
    assert deleted.status_code == 204
    assert_problem(
        await env.client.delete(f"{API}/reminder-rules/{rule['id']}", headers=admin), 404
    )


@pytest.mark.parametrize(
    "body",
    [
        {"record_type": "checkup", "lead_days": [7]},
        {"record_type": "vaccination", "lead_days": []},
        {"record_type": "vaccination", "lead_days": [-1]},
        {"record_type": "vaccination", "lead_days": [400]},
        {"record_type": "vaccination", "lead_days": list(range(11))},
        {"record_type": "vaccination", "lead_days": [7], "species": ""},
        {"record_type": "vaccination", "lead_days": [7], "extra": 1},
        {"record_type": "nonsense", "lead_days": [7]},
    ],
)
async def test_bad_rules_are_refused_and_nothing_is_stored(env: Env, body: dict[str, Any]) -> None:
    w = env.world
    before = await table_rows(w.app, reminder_rules)
    response = await env.client.post(
        f"{API}/practices/{w.riverside}/reminder-rules",
        json=body,
        headers=await w.h(RIVERSIDE_MANAGER),
    )
    assert_problem(response, 422)
    assert await table_rows(w.app, reminder_rules) == before


# --------------------------------------------------------------------------- next_due


async def test_a_vaccination_next_due_must_be_a_date_after_the_visit(env: Env) -> None:
    w = env.world
    _, pet_id = await env.client_with_pet()
    headers = await w.h(RIVERSIDE_VET)
    visit = w.today() - timedelta(days=1)
    for next_due, rule in (
        ("2027-02-30", "medical_record.next_due_invalid"),
        ("soon", "medical_record.next_due_invalid"),
        (20270101, "medical_record.next_due_invalid"),
        ((visit - timedelta(days=1)).isoformat(), "medical_record.next_due_before_visit"),
    ):
        response = await env.client.post(
            f"{API}/pets/{pet_id}/medical-records",
            json={
                "record_type": "vaccination",
                "title": "Rabies",
                "visit_date": visit.isoformat(),
                "data": {"vaccine_name": "Rabies", "next_due": next_due},
            },
            headers=headers,
        )
        body = assert_problem(response, 422)
        assert body["rule"] == rule, body
    listed = await env.client.get(f"{API}/pets/{pet_id}/medical-records", headers=headers)
    assert listed.json()["items"] == []


# --------------------------------------------------------------------------- reminders


async def test_the_reminder_scan_makes_each_reminder_once_and_it_is_sent(env: Env) -> None:
    w = env.world
    owner_id, pet_id = await env.client_with_pet(consent={"sms": True})
    admin = await w.h(RIVERSIDE_MANAGER)
    rule = await env.client.post(
        f"{API}/practices/{w.riverside}/reminder-rules",
        json={"record_type": "vaccination", "lead_days": [30, 7], "species": "dog"},
        headers=admin,
    )
    assert rule.status_code == 201
    today = w.today()
    next_due = today + timedelta(days=20)
    record = await w.create_medical_record(
        RIVERSIDE_VET,
        pet_id,
        record_type="vaccination",
        title="Rabies",
        data={"vaccine_name": "Rabies", "next_due": next_due.isoformat()},
    )

    async def mine() -> list[dict[str, Any]]:
        return await table_rows(w.app, reminders, reminders.c.record_id == UUID(record["id"]))

    assert await env.scan().run() >= 1
    assert await env.scan().run() == 0  # run twice: none twice
    (first,) = await mine()
    assert first["dedupe_key"].split(":")[3] == "30"
    requests = len(env.twilio.delivered)
    await w.deliver_events()
    assert len(env.twilio.delivered) == requests + 1
    assert "Rex is due for Rabies" in env.twilio.delivered[-1].form["Body"]
    await w.deliver_events()
    assert len(env.twilio.delivered) == requests + 1

    # Fourteen days on, the 7-day reminder falls due, once.
    later = datetime.now(UTC) + timedelta(days=14)
    assert await env.scan(later).run() >= 1
    assert await env.scan(later).run() == 0
    assert sorted(r["dedupe_key"].split(":")[3] for r in await mine()) == ["30", "7"]
    log = [r for r in await env.log(owner_id) if r["kind"] == "vaccination_reminder"]
    assert len(log) == 2  # the first one, on each channel; the second is not delivered yet
    await w.deliver_events()
    log = [r for r in await env.log(owner_id) if r["kind"] == "vaccination_reminder"]
    assert sorted((r["channel"], r["status"]) for r in log) == [
        ("email", "skipped"),
        ("email", "skipped"),
        ("sms", "sent"),
        ("sms", "sent"),
    ]


async def test_an_appointment_reminder_is_made_once_before_the_start(env: Env) -> None:
    w = env.world
    owner_id, pet_id = await env.client_with_pet(consent={"email": True})
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    appointment = await env.book(owner_id, pet_id, start)
    await w.deliver_events()
    assert await env.scan().run() >= 1
    assert await env.scan().run() == 0
    rows = await table_rows(w.app, reminders, reminders.c.appointment_id == UUID(appointment["id"]))
    assert len(rows) == 1
    await w.deliver_events()
    sent = [
        (r["channel"], r["status"])
        for r in await env.log(owner_id)
        if r["kind"] == "appointment_reminder"
    ]
    assert sorted(sent) == [("email", "sent"), ("sms", "skipped")]
    mail = env.mailer.sent[-1]
    assert mail.subject.startswith("Reminder:")
    assert str(_calendar(mail)["METHOD"]) == "REQUEST"


# --------------------------------------------------------------------------- demo data


async def test_the_demo_data_shows_reminders_and_messages_once(env: Env) -> None:
    w = env.world
    # The demo data goes into a database without rules (earlier tests made some).
    async with w.container.engine.begin() as conn:
        await conn.execute(delete(reminder_rules))
    seed = demo_seeders(w.container, messaging=True)[-1]
    first = await seed()
    assert "a vaccination due" in first
    second = await seed()
    assert second.endswith("; 0 reminders due now"), second
    await w.deliver_events()
    async with w.container.uow() as uow:
        owner = await uow.pet_owners.get_by_user(w.users[OWNER].id)
    assert owner is not None
    log = await env.log(str(owner.id))
    reminded = [r for r in log if r["kind"] == "vaccination_reminder"]
    assert ("email", "sent") in [(r["channel"], r["status"]) for r in reminded]
    listed = await env.client.get(f"{API}/pet-owners/{owner.id}/messages", headers=await w.h(OWNER))
    assert {item["kind"] for item in listed.json()["items"]} >= {"vaccination_reminder"}


async def test_the_scan_skips_other_species_superseded_and_erroneous_records(env: Env) -> None:
    w = env.world
    async with w.container.engine.begin() as conn:  # only this test's rule applies
        await conn.execute(delete(reminder_rules))
    admin = await w.h(RIVERSIDE_MANAGER)
    created = await env.client.post(
        f"{API}/practices/{w.riverside}/reminder-rules",
        json={"record_type": "vaccination", "lead_days": [10], "species": "dog"},
        headers=admin,
    )
    assert created.status_code == 201
    owner_id, dog = await env.client_with_pet(consent={"sms": True})
    cat = (await w.create_pet(RIVERSIDE_TECH, owner_id, name="Tom", species="cat"))["id"]
    today = w.today()

    async def vaccination(pet_id: str, vaccine: str, visit_days_ago: int, due_in: int) -> str:
        record = await w.create_medical_record(
            RIVERSIDE_VET,
            pet_id,
            record_type="vaccination",
            title=vaccine,
            visit_date=(today - timedelta(days=visit_days_ago)).isoformat(),
            data={
                "vaccine_name": vaccine,
                "next_due": (today + timedelta(days=due_in)).isoformat(),
            },
        )
        return str(record["id"])

    other_species = await vaccination(cat, "Rabies", 300, 3)
    superseded = await vaccination(dog, "Rabies", 300, 3)
    await vaccination(dog, "Rabies", 2, 360)  # the booster given early replaces it
    erroneous = await vaccination(dog, "Leptospirosis", 200, 4)
    marked = await env.client.post(
        f"{API}/medical-records/{erroneous}/entered-in-error",
        json={"reason": "wrong pet"},
        headers=await w.h(RIVERSIDE_VET) | {"If-Match": '"1"'},
    )
    assert marked.status_code == 200, marked.text
    due = await vaccination(dog, "Parvovirus", 300, 5)
    await env.scan().run()
    made = {
        str(row["record_id"])
        for row in await table_rows(w.app, reminders, reminders.c.pet_owner_id == UUID(owner_id))
    }
    assert made == {due}
    assert not {other_species, superseded, erroneous} & made
    await env.client.delete(f"{API}/reminder-rules/{created.json()['id']}", headers=admin)


async def test_a_bad_rule_change_is_refused_and_changes_nothing(env: Env) -> None:
    w = env.world
    admin = await w.h(RIVERSIDE_MANAGER)
    rule = (
        await env.client.post(
            f"{API}/practices/{w.riverside}/reminder-rules",
            json={"record_type": "vaccination", "lead_days": [7]},
            headers=admin,
        )
    ).json()
    url = f"{API}/reminder-rules/{rule['id']}"
    for body in ({"lead_days": None}, {"active": None}, {"record_type": "dental"}, {"x": 1}):
        assert_problem(await env.client.patch(url, json=body, headers=admin), 422)
    assert_problem(
        await env.client.patch(url, json={"lead_days": [1]}, headers=await w.h(RIVERSIDE_VET)),
        403,
    )
    assert_problem(
        await env.client.patch(url, json={"lead_days": [1]}, headers=await w.h(HILLCREST_MANAGER)),
        404,
    )
    (stored,) = await table_rows(w.app, reminder_rules, reminder_rules.c.id == UUID(rule["id"]))
    assert (stored["lead_days"], stored["active"], stored["updated_at"].isoformat()) == (
        [7],
        True,
        datetime.fromisoformat(rule["updated_at"]).isoformat(),
    )
    await env.client.delete(url, headers=admin)
