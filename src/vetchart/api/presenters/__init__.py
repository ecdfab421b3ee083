"""Response mappers, one module per area: what a route answers, built from what a service
returns (``clients``, ``records``, ``schedule``, ``kb``, ``identity``, ``webhooks``), and the fast
path's rows written as JSON (``encoding``). Routers import them from here, never from
one another."""

from vetchart.api.presenters.clients import (
    association_out,
    invitation_out,
    invitation_state_out,
    owner_item,
    pet_item,
    pet_with_owner,
    practice_out,
)
from vetchart.api.presenters.encoding import json_response, list_response
from vetchart.api.presenters.identity import (
    api_key_out,
    api_key_with_secret_out,
    session_out,
    tokens_out,
)
from vetchart.api.presenters.kb import answer_out, document_out
from vetchart.api.presenters.messaging import consent_out, message_out, reminder_rule_out
from vetchart.api.presenters.records import history_item, history_out, record_item, record_out
from vetchart.api.presenters.schedule import (
    appointment_item,
    appointment_out,
    attachment_out,
    timeline_item_out,
    visit_out,
)
from vetchart.api.presenters.webhooks import delivery_out, webhook_out, webhook_with_secret_out

__all__ = [
    "answer_out",
    "api_key_out",
    "api_key_with_secret_out",
    "appointment_item",
    "appointment_out",
    "association_out",
    "attachment_out",
    "consent_out",
    "delivery_out",
    "document_out",
    "history_item",
    "history_out",
    "invitation_out",
    "invitation_state_out",
    "json_response",
    "list_response",
    "message_out",
    "owner_item",
    "pet_item",
    "pet_with_owner",
    "practice_out",
    "record_item",
    "record_out",
    "reminder_rule_out",
    "session_out",
    "timeline_item_out",
    "tokens_out",
    "visit_out",
    "webhook_out",
    "webhook_with_secret_out",
]
