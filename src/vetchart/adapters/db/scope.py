"""The client scope as SQL: one condition, used by single reads and lists alike."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Uuid, bindparam, exists, select, true

from vetchart.adapters.db.pg import SqlArgs
from vetchart.adapters.db.tables import pet_owners, practice_associations
from vetchart.domain.policy import ClientScope

# The parameter that carries the scope's practice or owner-user id in a prebuilt statement.
SCOPE_PARAM = "scope_id"


def scope_kind(scope: ClientScope) -> tuple[str, UUID | None]:
    """Which of the three scopes this is, and the id it is bound to."""
    if scope.everything:
        return "everything", None
    if scope.practice_id is not None:
        return "practice", scope.practice_id
    if scope.owner_user_id is not None:
        return "owner", scope.owner_user_id
    raise ValueError("an empty client scope")


def _condition(kind: str, owner_id: ColumnElement[object], scope_id: Any) -> ColumnElement[bool]:
    if kind == "everything":
        return true()
    if kind == "practice":
        return exists(
            select(1).where(
                practice_associations.c.pet_owner_id == owner_id,
                practice_associations.c.practice_id == scope_id,
                practice_associations.c.status == "approved",
            )
        )
    # An alias, so the subquery never correlates with a pet_owners of the outer query.
    own = pet_owners.alias("scope_owner")
    return exists(select(1).where(own.c.id == owner_id, own.c.user_id == scope_id))


def owner_in_scope(scope: ClientScope, owner_id: ColumnElement[object]) -> ColumnElement[bool]:
    """True for the owner ids the scope may see (``owner_id`` is a column or value)."""
    kind, scope_id = scope_kind(scope)
    return _condition(kind, owner_id, scope_id)


def owner_in_scope_bound(kind: str, owner_id: ColumnElement[object]) -> ColumnElement[bool]:
    """The same condition for a scope of ``kind``, its id the parameter ``scope_id``: a
    statement built with it once is cached whole (adapters/db/statements.py)."""
    return _condition(kind, owner_id, bindparam(SCOPE_PARAM, type_=Uuid()))


def owner_in_scope_sql(scope: ClientScope, owner_id: str, args: SqlArgs) -> str:
    """The same condition as :func:`owner_in_scope`, as SQL text for the fast read path
    (adapters/db/pg.py), on the SQL expression ``owner_id``; its parameter, if any, is
    added to ``args``."""
    kind, scope_id = scope_kind(scope)
    if kind == "everything":
        return "true"
    if kind == "practice":
        return (
            "EXISTS (SELECT 1 FROM practice_associations scope_a "
            f"WHERE scope_a.pet_owner_id = {owner_id} AND scope_a.practice_id = "
            f"{args.add(scope_id)} AND scope_a.status = 'approved')"
        )
    return (
        "EXISTS (SELECT 1 FROM pet_owners scope_o "
        f"WHERE scope_o.id = {owner_id} AND scope_o.user_id = {args.add(scope_id)})"
    )
