"""Routes declare their audit action beside themselves::

    @audited(AuditAction.PET_READ)
    @router.get("/{pet_id}", ...)
    async def get_pet(...): ...

The action comes from the catalogue (``domain/audit_actions.py``), which says what its
rows name and which outcomes leave one. Services write the rows of successes; the one
error handler (``api/denials.py``) writes refusals from the action the matched route
declared (:func:`route_action`). ``tests/api/test_audit.py`` fails when a route of the
app declares none.

The declaration is kept against the endpoint function, not in the route's dependencies
or its OpenAPI extras: it costs nothing per request, changes no OpenAPI document, and
reads the same for ``@router.get`` and ``router.add_api_route``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.types import Scope

from vetchart.domain.audit_actions import AuditAction

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_DECLARED: dict[Callable[..., Any], AuditAction] = {}


def audited(action: AuditAction) -> Callable[[Endpoint], Endpoint]:
    """Declare the audit action of the route(s) served by the decorated endpoint."""

    def declare(endpoint: Endpoint) -> Endpoint:
        if not action.routed:
            raise ValueError(f"{action.name} is written by services only, not by a route")
        known = _DECLARED.setdefault(endpoint, action)
        if known is not action:
            raise ValueError(f"{endpoint.__qualname__} declares {known.name} and {action.name}")
        return endpoint

    return declare


def declared_action(endpoint: Callable[..., Any] | None) -> AuditAction | None:
    """The action an endpoint declared (None: none)."""
    return None if endpoint is None else _DECLARED.get(endpoint)


def route_action(scope: Scope) -> AuditAction | None:
    """The action declared by the route that matched this request (None: no route
    matched, or it declared none)."""
    return declared_action(getattr(scope.get("route"), "endpoint", None))
