"""Responses declared as dataclasses over a domain type answer exactly the fields listed here.

Four API responses take their fields from the domain (or port) type they show instead of
restating them (docs/architecture.md). A field added to that type would reach the HTTP
contract without any change in api/: these pins make that a deliberate change, reviewed
here, never a silent one (a hash or a secret added to the domain type must not leak).
Their whole schemas (types, nullability, formats) are pinned too, in
``inherited_responses.json`` next to this file.
"""

from __future__ import annotations

import json
from pathlib import Path
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


SNAPSHOT = Path(__file__).with_name("inherited_responses.json")


def _answered_schema(schema: type[Any]) -> dict[str, Any]:
    """The schema the OpenAPI document gives ``schema`` as a response."""
    app = FastAPI()

    @app.get("/probe", response_model=schema)
    def probe() -> None:  # pragma: no cover - never called, only declared
        return None

    answered: dict[str, Any] = app.openapi()["components"]["schemas"][schema.__name__]
    return answered


def _answered_fields(schema: type[Any]) -> set[str]:
    return set(_answered_schema(schema)["properties"])


@pytest.mark.parametrize("schema", list(PINNED), ids=lambda s: s.__name__)
def test_an_inherited_response_answers_only_its_pinned_fields(schema: type[Any]) -> None:
    assert _answered_fields(schema) == PINNED[schema]


@pytest.mark.parametrize("schema", list(PINNED), ids=lambda s: s.__name__)
def test_an_inherited_response_keeps_its_pinned_schema(schema: type[Any]) -> None:
    pinned = json.loads(SNAPSHOT.read_text())
    assert _answered_schema(schema) == pinned[schema.__name__]
