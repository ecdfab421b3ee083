"""The rules of client messaging: what an appointment change tells the client, what a
reminder rule may say, and the consent command."""

from __future__ import annotations

import pytest

from vetchart.domain.commands import UNSET
from vetchart.domain.errors import RuleViolation
from vetchart.domain.messaging import (
    Channel,
    ConsentChanges,
    MessageKind,
    NewReminderRule,
    ReminderRuleChanges,
    appointment_message_kind,
)
from vetchart.domain.records import RecordType


@pytest.mark.parametrize(
    ("version", "status", "changed", "kind"),
    [
        (1, "scheduled", (), MessageKind.APPOINTMENT_CONFIRMATION),
        (1, "confirmed", (), MessageKind.APPOINTMENT_CONFIRMATION),
        (1, "requested", (), None),  # a request is not a booking yet
        (2, "confirmed", ("status",), MessageKind.APPOINTMENT_CONFIRMATION),
        (2, "cancelled", ("status",), MessageKind.APPOINTMENT_CANCELLATION),
        (2, "checked_in", ("status",), None),
        (2, "no_show", ("status",), None),
        (3, "scheduled", ("start_at",), MessageKind.APPOINTMENT_CHANGE),
        (3, "scheduled", ("duration_minutes", "title"), MessageKind.APPOINTMENT_CHANGE),
        (3, "scheduled", ("notes",), None),
        (3, "scheduled", ("assigned_vet_id",), None),
    ],
)
def test_what_an_appointment_change_tells_the_client(
    version: int, status: str, changed: tuple[str, ...], kind: MessageKind | None
) -> None:
    assert appointment_message_kind(version=version, status=status, changed_fields=changed) is kind


def test_a_rule_is_normalised() -> None:
    rule = NewReminderRule(record_type=RecordType.VACCINATION, lead_days=(7, 30, 7), species=" Cat")
    assert rule.lead_days == (30, 7)
    assert rule.species == "cat"


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"record_type": RecordType.CHECKUP, "lead_days": (7,)}, "record_type_unsupported"),
        ({"record_type": RecordType.VACCINATION, "lead_days": ()}, "lead_days_required"),
        ({"record_type": RecordType.VACCINATION, "lead_days": (366,)}, "lead_days_out_of_range"),
        ({"record_type": RecordType.VACCINATION, "lead_days": tuple(range(11))}, "too_many"),
        ({"record_type": RecordType.VACCINATION, "lead_days": (1,), "species": " "}, "species"),
    ],
)
def test_bad_rules_are_refused(values: dict[str, object], name: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        NewReminderRule(**values)  # type: ignore[arg-type]
    assert name in refused.value.rule


def test_a_rule_change_may_not_null_what_a_rule_needs() -> None:
    with pytest.raises(RuleViolation):
        ReminderRuleChanges(lead_days=None)  # type: ignore[arg-type]
    assert ReminderRuleChanges(species=None).species is None
    assert ReminderRuleChanges().lead_days is UNSET


def test_consent_changes_name_only_what_was_sent() -> None:
    assert ConsentChanges(sms=False).by_channel() == {Channel.SMS: False}
    with pytest.raises(RuleViolation):
        ConsentChanges(email=None)  # type: ignore[arg-type]
