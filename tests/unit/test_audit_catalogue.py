"""The audit catalogue (domain/audit_actions.py) and the one place rows are made
(services/audit.py): the action strings stay what they are, every action is written by
someone, and no other code builds an audit row.

That every route declares an action, and every action a route may declare is declared,
is checked on the app itself: tests/api/test_audit.py."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from vetchart.api.route_audit import audited, declared_action
from vetchart.domain.audit import Outcome
from vetchart.domain.audit_actions import ASSOCIATION_STEPS, AuditAction, Audited
from vetchart.domain.policy import Principal
from vetchart.domain.users import Role, User
from vetchart.services.audit import SYSTEM, UNATTENDED, entry, read_entry

SRC = Path(__file__).resolve().parents[2] / "src" / "vetchart"

# The action strings rows carry (API.md, docs/audit.md): an external suite checks them.
ACTIONS = {
    "api_key.create",
    "api_key.list",
    "api_key.read",
    "api_key.revoke",
    "appointment.cancel",
    "appointment.create",
    "appointment.list",
    "appointment.read",
    "appointment.request",
    "appointment.status_change",
    "appointment.update",
    "appointment_type.delete",
    "appointment_type.list",
    "appointment_type.update",
    "association.approve",
    "association.create",
    "association.deactivate",
    "association.list",
    "association.reject",
    "attachment.create",
    "attachment.list",
    "attachment.read",
    "audit.read",
    "auth.lockout",
    "auth.login",
    "auth.login_failed",
    "auth.api_key_rejected",
    "auth.logout",
    "auth.mfa_challenge",
    "auth.mfa_disable",
    "auth.mfa_enable",
    "auth.mfa_enrol_start",
    "auth.password_change",
    "auth.refresh",
    "auth.refresh_reuse",
    "auth.session_list",
    "auth.session_revoke",
    "dashboard.read",
    "file.read",
    "file.write",
    "fhir.metadata",
    "health.live",
    "health.ready",
    "invitation.accept",
    "invitation.accept_existing",
    "invitation.create",
    "invitation.list",
    "invitation.revoke",
    "kb.query",
    "kb_document.create",
    "kb_document.delete",
    "kb_document.ingest",
    "kb_document.list",
    "kb_document.read",
    "kb_document.replace",
    "medical_record.amend",
    "medical_record.create",
    "medical_record.entered_in_error",
    "medical_record.list",
    "medical_record.read",
    "medical_record.sign",
    "metrics.read",
    "pet_owner.deactivate",
    "pet_owner.erase",
    "pet_owner.export",
    "pet_owner.reactivate",
    "pet.create",
    "pet.deactivate",
    "pet.fhir_document_search",
    "pet.fhir_everything",
    "pet.fhir_immunization_search",
    "pet.fhir_observation_search",
    "pet.fhir_owner_read",
    "pet.fhir_read",
    "pet.list",
    "pet.reactivate",
    "pet.read",
    "pet.timeline",
    "pet.update",
    "pet_owner.create",
    "pet_owner.list",
    "pet_owner.read",
    "pet_owner.update",
    "practice.create",
    "practice.deactivate",
    "practice.list",
    "practice.read",
    "practice.staff_list",
    "practice.update",
    "roster.list",
    "roster.update",
    "schedule_exception.create",
    "schedule_exception.delete",
    "schedule_exception.list",
    "schedule_settings.read",
    "schedule_settings.update",
    "slot.list",
    "user.create_admin",
    "user.list",
    "user.read",
    "user.signup",
    "user.unlock",
    "user.update",
    "visit.audio_read",
    "visit.audio_upload",
    "visit.audio_upload_url",
    "visit.create",
    "visit.fhir_read",
    "visit.list",
    "visit.read",
    "visit.summary_accept",
    "visit.summary_draft",
    "visit.transcription_request",
    "visit.transcribe",
    "visit.summary_request",
    "visit.update",
    # Client messages (issue 15).
    "message.list",
    "message_consent.read",
    "message_consent.update",
    "reminder_rule.create",
    "reminder_rule.delete",
    "reminder_rule.list",
    "reminder_rule.update",
    "webhook.create",
    "webhook.list",
    "webhook.read",
    "webhook.rotate_secret",
    "webhook.update",
    "webhook_delivery.list",
    "webhook_delivery.resend",
}


def _modules(under: Path) -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(under.rglob("*.py"))]


def _catalogue_references(under: Path) -> set[str]:
    """The names of the members referenced as ``AuditAction.<NAME>`` below ``under``."""
    return {
        node.attr
        for _, tree in _modules(under)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "AuditAction"
    }


def test_the_catalogue_is_a_leaf() -> None:
    """It imports nothing of vetchart (lint-imports checks it too), so any layer may use it."""
    tree = ast.parse((SRC / "domain" / "audit_actions.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"__future__", "enum", "dataclasses"}


def test_the_action_strings_are_unchanged() -> None:
    assert {action.action for action in AuditAction} == ACTIONS


def test_every_action_only_a_service_writes_is_written_by_a_service() -> None:
    written = _catalogue_references(SRC / "services")
    unrouted = {action.name for action in AuditAction if not action.routed}
    assert unrouted, "the worker's, the command line's and the sign-in's own rows"
    assert unrouted - written == set()


def test_every_action_whose_success_leaves_a_row_is_written_by_a_service() -> None:
    """Writes, reads of medical or client data and auth events: their success rows are
    the services' (the association steps through ``ASSOCIATION_STEPS``)."""
    written = _catalogue_references(SRC / "services")
    steps_used = any(
        isinstance(node, ast.Name) and node.id == "ASSOCIATION_STEPS"
        for _, tree in _modules(SRC / "services")
        for node in ast.walk(tree)
    )
    assert steps_used
    written |= {action.name for action in ASSOCIATION_STEPS.values()}
    leaving_rows = {
        action.name
        for action in AuditAction
        if action.audited in (Audited.WRITE, Audited.AUTH, Audited.READ, Audited.MEDICAL_READ)
    }
    assert leaving_rows - written == set()


def test_no_service_writes_the_success_row_of_an_action_that_leaves_none() -> None:
    """Reads of other data leave refusal rows only (the error handler's); health, metrics
    and signed file URLs none at all."""
    written = _catalogue_references(SRC / "services")
    silent = {
        action.name
        for action in AuditAction
        if action.audited in (Audited.DENIALS_ONLY, Audited.NONE)
    }
    assert silent & written == set()


def test_no_code_but_services_audit_builds_or_writes_an_audit_row() -> None:
    """Rows are made by ``services/audit.py`` only (from a catalogue action); adapters
    only store the entries they are given."""
    builders: list[str] = []
    for path, tree in _modules(SRC):
        if path == SRC / "services" / "audit.py":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = node.func
            if isinstance(called, ast.Name) and called.id == "AuditEntry":
                builders.append(f"{path.relative_to(SRC)}:{node.lineno} AuditEntry(...)")
            if (
                isinstance(called, ast.Attribute)
                and called.attr == "record"
                and isinstance(called.value, ast.Attribute)
                and called.value.attr == "audit"
            ):
                builders.append(f"{path.relative_to(SRC)}:{node.lineno} .audit.record(...)")
    assert builders == []


def test_the_association_steps_are_the_catalogues() -> None:
    assert {step: action.action for step, action in ASSOCIATION_STEPS.items()} == {
        "approve": "association.approve",
        "reject": "association.reject",
        "deactivate": "association.deactivate",
    }


def test_a_create_names_the_new_object_on_success_and_the_path_on_refusal() -> None:
    action = AuditAction.MEDICAL_RECORD_CREATE
    assert action.row_resource_type(success=True) == "medical_record"
    assert action.row_resource_type(success=False) == "pet"
    assert AuditAction.PET_UPDATE.row_resource_type(success=True) == "pet"


def _principal(role: Role = Role.VET) -> Principal:
    return Principal(
        user_id=uuid4(),
        role=role,
        practice_id=uuid4(),
        session_id=uuid4(),
        mfa_enabled=False,
    )


def test_an_entry_names_its_actor_and_the_catalogues_resource() -> None:
    actor = _principal()
    record_id, practice_id = uuid4(), uuid4()
    made = entry(actor, AuditAction.MEDICAL_RECORD_CREATE, record_id, practice_id, {"version": 1})
    assert (made.action, made.resource_type, made.resource_id) == (
        "medical_record.create",
        "medical_record",
        str(record_id),
    )
    assert (made.actor_id, made.actor_role, made.practice_id) == (
        actor.user_id,
        "VET",
        practice_id,
    )
    assert made.outcome is Outcome.SUCCESS
    assert made.details == {"version": 1}
    refused = entry(actor, AuditAction.MEDICAL_RECORD_CREATE, "p", None, outcome=Outcome.DENIED)
    assert (refused.resource_type, refused.outcome) == ("pet", Outcome.DENIED)


def test_rows_without_a_signed_in_caller() -> None:
    cli = entry(UNATTENDED, AuditAction.USER_CREATE_ADMIN, uuid4(), None, {"source": "cli"})
    assert (cli.actor_id, cli.actor_role) == (None, None)
    worker = entry(SYSTEM, AuditAction.VISIT_SUMMARY_DRAFT, uuid4(), None)
    assert (worker.actor_id, worker.actor_role) == (None, "system")


def test_a_read_is_filed_under_the_readers_practice() -> None:
    actor = _principal()
    data_practice = uuid4()
    made = read_entry(actor, AuditAction.VISIT_READ, "v", data_practice_id=data_practice)
    assert made.practice_id == actor.practice_id
    assert made.details == {"data_practice_id": str(data_practice)}


def test_an_account_acting_as_itself() -> None:
    now = datetime.now(UTC)
    user = User(
        id=uuid4(),
        email="owner@example.org",
        full_name="An Owner",
        role=Role.PET_OWNER,
        practice_id=None,
        is_active=True,
        password_hash="-",
        mfa_enabled=False,
        created_at=now,
        updated_at=now,
    )
    made = entry(user, AuditAction.AUTH_LOGIN, user.id, user.practice_id)
    assert (made.actor_id, made.actor_role, made.resource_type) == (user.id, "PET_OWNER", "user")


def test_a_route_declares_one_action_of_a_route() -> None:
    async def endpoint() -> None:
        return None

    assert declared_action(endpoint) is None
    assert audited(AuditAction.PET_READ)(endpoint) is endpoint
    assert declared_action(endpoint) is AuditAction.PET_READ
    audited(AuditAction.PET_READ)(endpoint)  # the same again is harmless
    with pytest.raises(ValueError, match="declares PET_READ and PET_LIST"):
        audited(AuditAction.PET_LIST)(endpoint)

    async def other() -> None:
        return None

    with pytest.raises(ValueError, match="written by services only"):
        audited(AuditAction.AUTH_LOCKOUT)(other)
