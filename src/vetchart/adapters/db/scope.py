"""Every SQL condition that restricts rows to what the caller may see, in one module.

The domain says who sees what (``domain/policy/scope.py``); this module says it in SQL,
each condition in the forms its callers need:

- the client scope (which pet owners, and so pets, records, visits and attachments):
  :func:`owner_in_scope` (a SQLAlchemy expression), :func:`owner_in_scope_bound` (the
  scope's id a parameter, for statements built once) and :func:`owner_in_scope_sql` (SQL
  text for the fast path, adapters/db/pg.py); :func:`record_in_scope` for records;
- the appointment scope (a practice's appointments, an owner's own):
  :func:`appointment_in_scope` and :func:`appointment_in_scope_sql`;
- the practices an owner is a client of (an approved association), which audited reads
  name: :func:`client_practices`, :func:`care_practices`, :func:`page_care_practices`;
- the associations a practice's staff may see: :func:`association_visible_to_practice`;
- the users a practice admin administers: :func:`user_in_scope`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Uuid, bindparam, exists, func, or_, select, true

from vetchart.adapters.db.pg import SqlArgs
from vetchart.adapters.db.tables import (
    appointments,
    medical_records,
    pet_owners,
    pets,
    practice_associations,
    users,
)
from vetchart.domain.owners import HIDDEN_FROM_PRACTICE, AssociationStatus, ConsentParty
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


def record_in_scope(scope: ClientScope) -> Any:
    """Records whose pet's owner is in the scope (the one client-scope rule)."""
    return medical_records.c.pet_id.in_(
        select(pets.c.id).where(owner_in_scope(scope, pets.c.owner_id))
    )


# --------------------------------------------------------------------------- appointments


def appointment_in_scope(scope: ClientScope) -> ColumnElement[bool]:
    """Staff see their practice's appointments; owners their own; admins everything."""
    if scope.everything:
        return true()
    if scope.practice_id is not None:
        return appointments.c.practice_id == scope.practice_id
    own = pet_owners.alias("scope_owner")
    return appointments.c.pet_owner_id.in_(
        select(own.c.id).where(own.c.user_id == scope.owner_user_id)
    )


def appointment_in_scope_sql(scope: ClientScope, args: SqlArgs) -> str:
    """:func:`appointment_in_scope` as SQL text for the fast path, on appointments ``a``;
    its parameter, if any, is added to ``args``."""
    if scope.everything:
        return "true"
    if scope.practice_id is not None:
        return f"a.practice_id = {args.add(scope.practice_id)}"
    return (
        "a.pet_owner_id IN (SELECT scope_o.id FROM pet_owners scope_o "
        f"WHERE scope_o.user_id = {args.add(scope.owner_user_id)})"
    )


# --------------------------------------------------------------------------- clients of


def client_practices(owner_id: ColumnElement[Any]) -> Any:
    """The practices the owner ``owner_id`` (a column) is a client of (an approved
    association), as an array (a scalar subquery)."""
    a = practice_associations
    return (
        select(func.array_agg(a.c.practice_id))
        .where(a.c.pet_owner_id == owner_id, a.c.status == AssociationStatus.APPROVED.value)
        .scalar_subquery()
    )


def care_practices(owner_id: str) -> str:
    """The practices the owner ``owner_id`` (an SQL expression) is a client of (an
    approved association), by id: what a pet's or owner's data belongs to."""
    return (
        "ARRAY(SELECT care.practice_id FROM practice_associations care "
        f"WHERE care.pet_owner_id = {owner_id} AND care.status = 'approved' "
        "ORDER BY care.practice_id)"
    )


def page_care_practices(owner_id: str) -> str:
    """:func:`care_practices` of the owners of a page's shown rows (``owner_id`` a column
    of ``page``), as an aggregate for ``adapters/db/seen.py``'s ``audited_page``."""
    return (
        "(SELECT array_agg(DISTINCT care.practice_id) FROM practice_associations care "
        f"WHERE care.status = 'approved' AND care.pet_owner_id = ANY(array_agg(page.{owner_id})))"
    )


# --------------------------------------------------------------------------- associations


def association_visible_to_practice() -> ColumnElement[bool]:
    """``Association.visible_to_practice`` in SQL: the associations a practice's staff
    see (awaiting is NULL for links approved at once)."""
    a = practice_associations
    return or_(
        a.c.awaiting.is_distinct_from(ConsentParty.OWNER.value),
        a.c.status.not_in([s.value for s in sorted(HIDDEN_FROM_PRACTICE)]),
    )


# --------------------------------------------------------------------------- users


def user_in_scope(practice_id: UUID) -> ColumnElement[bool]:
    """The users a PRACTICE_ADMIN administers: their practice's
    (``policy.scope.user_list_scope``; SYSTEM_ADMIN lists everyone, no condition)."""
    return users.c.practice_id == practice_id
