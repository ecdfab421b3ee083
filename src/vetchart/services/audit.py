"""The one helper services use to record what an actor did (same transaction as the change)."""

from __future__ import annotations

from uuid import UUID

from vetchart.domain.audit import AuditEntry, Outcome, RequestMeta
from vetchart.domain.policy import Principal
from vetchart.services.ports import UnitOfWork


def record(
    uow: UnitOfWork,
    meta: RequestMeta,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: UUID | str,
    practice_id: UUID | None,
    details: dict[str, object] | None = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
) -> None:
    uow.audit.record(
        AuditEntry(
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            outcome=outcome,
            actor_id=actor.user_id,
            actor_role=actor.role.value,
            practice_id=practice_id,
            details=dict(details or {}),
        ),
        meta,
    )
