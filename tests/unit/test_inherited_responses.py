"""Responses declared as dataclasses over a domain type answer exactly the fields listed here.

Four API responses take their fields from the domain (or port) type they show instead of
restating them (docs/architecture.md). A field added to that type would reach the HTTP
contract without any change in api/: these pins make that a deliberate change, reviewed
here, never a silent one (a hash or a secret added to the domain type must not leak).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from vetchart.api.schemas.audit import AuditEventOut
from vetchart.api.schemas.kb import KbSourceOut
from vetchart.api.schemas.messaging import MessageOut
from vetchart.api.schemas.scheduling import AppointmentTypeOut

PINNED: dict[type[Any], set[str]] = {
    AuditEventOut: {
        "action",
        "actor_id",
        "actor_role",
        "client_address",
        "details",
        "id",
        "occurred_at",
        "outcome",
        "practice_id",
        "request_id",
        "resource_id",
        "resource_type",
        "user_agent",
    },
    MessageOut: {
        "body",
        "channel",
        "created_at",
        "event_id",
        "id",
        "kind",
        "pet_owner_id",
        "practice_id",
        "provider_id",
        "reason",
        "recipient",
        "status",
        "subject",
    },
    AppointmentTypeOut: {
        "appointment_type",
        "created_at",
        "duration_minutes",
        "id",
        "name",
        "owner_bookable",
        "practice_id",
        "updated_at",
    },
    KbSourceOut: {
        "chunk_index",
        "document_id",
        "excerpt",
        "n",
        "score",
        "source_url",
        "title",
    },
}


def _answered_fields(schema: type[Any]) -> set[str]:
    """The properties the OpenAPI document gives the schema as a response."""
    app = FastAPI()

    @app.get("/probe", response_model=schema)
    def probe() -> None:  # pragma: no cover - never called, only declared
        return None

    document = app.openapi()
    name = schema.__name__
    return set(document["components"]["schemas"][name]["properties"])


@pytest.mark.parametrize("schema", list(PINNED), ids=lambda s: s.__name__)
def test_an_inherited_response_answers_only_its_pinned_fields(schema: type[Any]) -> None:
    assert _answered_fields(schema) == PINNED[schema]
