"""The client scope as SQL: one condition, used by single reads and lists alike."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, select, true

from vetchart.adapters.db.tables import pet_owners, practice_associations
from vetchart.domain.policy import ClientScope


def owner_in_scope(scope: ClientScope, owner_id: ColumnElement[object]) -> ColumnElement[bool]:
    """True for the owner ids the scope may see (``owner_id`` is a column or value)."""
    if scope.everything:
        return true()
    if scope.practice_id is not None:
        return exists(
            select(1).where(
                practice_associations.c.pet_owner_id == owner_id,
                practice_associations.c.practice_id == scope.practice_id,
                practice_associations.c.status == "approved",
            )
        )
    if scope.owner_user_id is not None:
        # An alias, so the subquery never correlates with a pet_owners of the outer query.
        own = pet_owners.alias("scope_owner")
        return exists(select(1).where(own.c.id == owner_id, own.c.user_id == scope.owner_user_id))
    raise ValueError("an empty client scope")
