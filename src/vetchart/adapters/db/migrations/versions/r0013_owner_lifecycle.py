"""owner lifecycle and invitation management

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 13:00:00

- pet_owners.is_active: a client record is deactivated (soft), never deleted; every
  existing owner is active.
- pet_owners.erased_at: when the owner's personal data was erased (GDPR art. 17); the
  row stays (medical records and appointments point at it), pseudonymised. An erased
  owner is inactive.
- staff_invitations.revoked_at / revoked_by: an invitation revoked by an admin before it
  was accepted (accepting it answers 410); never both accepted and revoked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pet_owners",
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column("pet_owners", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_pet_owners_erased_is_inactive"),
        "pet_owners",
        "erased_at IS NULL OR NOT is_active",
    )
    op.add_column(
        "staff_invitations", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("staff_invitations", sa.Column("revoked_by", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_staff_invitations_revoked_by_users"),
        "staff_invitations",
        "users",
        ["revoked_by"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_check_constraint(
        op.f("ck_staff_invitations_revoked_has_actor"),
        "staff_invitations",
        "(revoked_at IS NULL) = (revoked_by IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_staff_invitations_accepted_or_revoked"),
        "staff_invitations",
        "accepted_at IS NULL OR revoked_at IS NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_staff_invitations_accepted_or_revoked"), "staff_invitations", type_="check"
    )
    op.drop_constraint(
        op.f("ck_staff_invitations_revoked_has_actor"), "staff_invitations", type_="check"
    )
    op.drop_constraint(
        op.f("fk_staff_invitations_revoked_by_users"), "staff_invitations", type_="foreignkey"
    )
    op.drop_column("staff_invitations", "revoked_by")
    op.drop_column("staff_invitations", "revoked_at")
    op.drop_constraint(op.f("ck_pet_owners_erased_is_inactive"), "pet_owners", type_="check")
    op.drop_column("pet_owners", "erased_at")
    op.drop_column("pet_owners", "is_active")
