"""Audit rows for refused requests (403, and 404 from scope), written by the one error
handler from the audit action the matched route declared (``api/route_audit.py``)."""

from __future__ import annotations

import structlog
from fastapi import Request

from vetchart.api.middleware import route_template
from vetchart.api.route_audit import route_action
from vetchart.api.security import request_meta
from vetchart.domain import errors as e
from vetchart.domain.audit_actions import Audited
from vetchart.domain.policy import Principal

log = structlog.get_logger(__name__)

DENIALS = (e.Forbidden, e.NotFound)


async def record_denial(request: Request, error: e.DomainError) -> None:
    """Called for every domain error; records the refusals of signed-in callers. A failure
    to record is logged and does not replace the answer the caller gets."""
    if not isinstance(error, DENIALS):
        return
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        return
    action = route_action(request.scope)
    if action is None or action.audited is Audited.NONE:
        log.warning(
            "audit.denial_unmapped", method=request.method, route=route_template(request.scope)
        )
        return
    resource_id = request.path_params.get(action.id_param) if action.id_param else None
    status = 403 if isinstance(error, e.Forbidden) else 404
    try:
        await request.app.state.container.audit.denied(
            principal,
            await request_meta(request),
            action,
            None if resource_id is None else str(resource_id),
            {"status": status, "code": error.code},
        )
    except Exception as failure:  # the refusal still goes out; the gap is logged loudly
        log.error("audit.denial_not_recorded", error=type(failure).__name__)
