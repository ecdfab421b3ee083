"""The audit expectation every API test case can check: what rows its request left.

For a request (found by its X-Request-ID), per the audit action its route declares
(``@audited(...)``, api/route_audit.py; the catalogue: domain/audit_actions.py):
- no caller (401): no row;
- refused (403/404) for a signed-in caller: exactly one ``denied`` row, the route's
  action, the caller as actor, the resource named by the path;
- a success (2xx, or the 307 to a file's bytes) of a write, of a medical-data read or of
  a read of client data (pets, owners, appointments): exactly one ``success`` row, the
  route's action, the caller as actor, the resource (the created one for a create); for
  a read, the practice is the caller's (None for PET_OWNER and SYSTEM_ADMIN);
- a success of any other read, or any other failure (409, 412, 422...): no row.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from httpx import Response
from sqlalchemy import select

from vetchart.adapters.db.tables import audit_events
from vetchart.api.route_audit import declared_action
from vetchart.domain.audit_actions import AuditAction, Audited

# Requests that make an account act as that account (anyone may call them).
NEW_ACCOUNT_ACTIONS = {"user.signup", "invitation.accept"}


_DECLARED: weakref.WeakKeyDictionary[FastAPI, dict[tuple[str, str], AuditAction | None]] = (
    weakref.WeakKeyDictionary()
)


def declared_actions(app: FastAPI) -> dict[tuple[str, str], AuditAction | None]:
    """Every operation of the app, (method, full path template) -> the audit action its
    route declares (None: none)."""
    found = _DECLARED.get(app)
    if found is None:
        found = {}
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute):
                continue
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", str(context.path_format))
            for method in context.methods or ():
                found[(method, path)] = declared_action(route.endpoint)
        _DECLARED[app] = found
    return found


async def audit_rows(app: Any, request_id: str) -> list[dict[str, Any]]:
    query = select(audit_events).where(audit_events.c.request_id == request_id)
    async with app.state.container.engine.connect() as conn:
        result = await conn.execute(query.order_by(audit_events.c.seq))
        return [dict(row) for row in result.mappings()]


def _path_values(template: str, url: str) -> dict[str, str]:
    """The path parameters of ``url`` (``{name}`` segments of the template)."""
    names = re.findall(r"\{(\w+)\}", template)
    literal = [re.escape(part) for part in re.split(r"\{\w+\}", template)]
    pattern = "".join(
        part + (f"(?P<{names[i]}>[^/]+)" if i < len(names) else "")
        for i, part in enumerate(literal)
    )
    match = re.fullmatch(pattern, url.split("?")[0])
    return match.groupdict() if match else {}


def _actor(world: Any, headers: dict[str, str]) -> Any:
    token = headers.get("Authorization")
    for email, known in world.headers.items():
        if known.get("Authorization") == token:
            return world.users[email]
    return None


async def assert_audited(
    world: Any,
    method: str,
    template: str,
    url: str,
    headers: dict[str, str],
    response: Response,
) -> None:
    route = declared_actions(world.app).get((method, template))
    assert route is not None, f"{method} {template} declares no audit action"
    request_id = response.headers["x-request-id"]
    rows = await audit_rows(world.app, request_id)
    where = f"{method} {url} -> {response.status_code}: {rows}"
    status = response.status_code
    actor = _actor(world, headers)
    values = _path_values(template.removeprefix("/api/v1"), url)
    if status == 401 or route.audited is Audited.NONE:
        assert rows == [], where
        return
    if status in (403, 404):
        assert len(rows) == 1, where
        row = rows[0]
        assert (row["outcome"], row["action"]) == ("denied", route.action), where
        assert row["resource_type"] == route.resource_type, where
        if route.id_param:
            assert row["resource_id"] == values[route.id_param], where
        assert row["details"]["status"] == status, where
    elif 200 <= status < 400 and route.audited in (
        Audited.WRITE,
        Audited.MEDICAL_READ,
        Audited.READ,
    ):
        assert len(rows) == 1, where
        row = rows[0]
        assert (row["outcome"], row["action"]) == ("success", route.action), where
        if route.creates:
            assert row["resource_type"] == route.creates, where
            assert row["resource_id"] == str(response.json()["id"]), where
        else:
            assert row["resource_type"] == route.resource_type, where
            if route.id_param:
                assert row["resource_id"] == values[route.id_param], where
    else:
        assert rows == [], where
        return
    if route.action in NEW_ACCOUNT_ACTIONS and status < 300:
        # Whoever called, the account made by the request is the actor.
        assert str(row["actor_id"]) == response.json()["id"], where
    elif actor is not None:
        assert row["actor_id"] == actor.id, where
        assert row["actor_role"] == actor.role.value, where
        if route.audited in (Audited.MEDICAL_READ, Audited.READ) and status < 400:
            # A read is in the READER's practice's log; the data's practice is a detail.
            assert row["practice_id"] == actor.practice_id, where
    assert row["request_id"] == request_id
    assert row["client_address"], where
