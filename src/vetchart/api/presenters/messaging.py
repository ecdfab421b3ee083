"""Client messaging's answers: consent, the message log, reminder rules."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from vetchart.api.schemas.common import response_from
from vetchart.api.schemas.messaging import (
    ChannelConsentOut,
    ConsentOut,
    MessageOut,
    ReminderRuleOut,
)
from vetchart.domain.messaging import ChannelConsent, ReminderRule
from vetchart.services.ports.notifications import LoggedMessage


def consent_out(owner_id: UUID, consents: Sequence[ChannelConsent]) -> ConsentOut:
    return ConsentOut(
        pet_owner_id=owner_id,
        channels=[ChannelConsentOut.model_validate(consent) for consent in consents],
    )


def message_out(message: LoggedMessage) -> MessageOut:
    return response_from(MessageOut, message)


def reminder_rule_out(rule: ReminderRule) -> ReminderRuleOut:
    return ReminderRuleOut.model_validate(rule)
