"""association consent: the practice that created an owner, whose consent a link awaits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00

- pet_owners.created_by_practice_id: the practice whose staff created the owner
  (``POST /pet-owners``); NULL for owners who registered themselves. A staff-made
  association is approved at once only for an owner of the requesting practice's making.
  Backfilled from the pattern ``OwnerService.create`` wrote so far: the owner's
  ``new_client`` association created in the same instant as the owner and requested by a
  staff user of that practice.
- practice_associations.awaiting: whose consent a pending association awaits,
  ``practice`` (the owner asked) or ``owner`` (the practice asked for someone else's
  owner); kept after the decision as the record of who was asked. The associations that
  are pending today were all asked for by owners, so they await the practice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pet_owners", sa.Column("created_by_practice_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_pet_owners_created_by_practice_id_practices"),
        "pet_owners",
        "practices",
        ["created_by_practice_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    # Only where the pattern names exactly one practice (an UPDATE ... FROM with several
    # matching rows would pick one at random); owners linked to an account are their own.
    op.execute(
        """
        UPDATE pet_owners AS o
        SET created_by_practice_id = made.practice_id
        FROM (
            SELECT a.pet_owner_id, (array_agg(a.practice_id))[1] AS practice_id
            FROM practice_associations AS a
            JOIN pet_owners AS p ON p.id = a.pet_owner_id AND p.created_at = a.created_at
            JOIN users AS u ON u.id = a.requested_by AND u.practice_id = a.practice_id
            WHERE a.request_type = 'new_client'
              AND u.role IN ('VET_STAFF', 'VET', 'PRACTICE_ADMIN')
              AND p.user_id IS NULL
            GROUP BY a.pet_owner_id
            HAVING count(DISTINCT a.practice_id) = 1
        ) AS made
        WHERE o.id = made.pet_owner_id
        """
    )
    op.add_column("practice_associations", sa.Column("awaiting", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_practice_associations_awaiting_known"),
        "practice_associations",
        "awaiting IS NULL OR awaiting IN ('practice', 'owner')",
    )
    op.execute("UPDATE practice_associations SET awaiting = 'practice' WHERE status = 'pending'")
    op.create_check_constraint(
        op.f("ck_practice_associations_pending_awaits_someone"),
        "practice_associations",
        "status <> 'pending' OR awaiting IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_practice_associations_pending_awaits_someone"),
        "practice_associations",
        type_="check",
    )
    op.drop_constraint(
        op.f("ck_practice_associations_awaiting_known"), "practice_associations", type_="check"
    )
    op.drop_column("practice_associations", "awaiting")
    op.drop_constraint(
        op.f("fk_pet_owners_created_by_practice_id_practices"), "pet_owners", type_="foreignkey"
    )
    op.drop_column("pet_owners", "created_by_practice_id")
