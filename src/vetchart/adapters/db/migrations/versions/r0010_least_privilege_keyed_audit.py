"""least privilege for real: a LOGIN application role; the audit chain keyed and its head
moved only by the database

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:40:00

- ``vetchart_app`` becomes a LOGIN role (neither superuser nor owner of anything): the API
  and the worker log in as it instead of switching to it from the owner's session, so no
  statement they run can ``RESET ROLE`` back to the owner.
- The audit chain is re-sealed with HMAC-SHA-256 under the audit key (VETCHART_AUDIT_KEY,
  which the database never sees): every chain is first verified under the old plain
  SHA-256 hashes (the upgrade stops on a broken chain), then every entry's hash is
  recomputed under the key in ``seq`` order.
- The chain heads move only through the database: ``audit_lock_head(chain)`` (SECURITY
  DEFINER) locks and reads a head for a writer, and a BEFORE INSERT trigger on
  ``audit_events`` (SECURITY DEFINER) moves the head along with each entry, refusing an
  entry that does not extend it. The application keeps SELECT only on ``audit_chains``.

Downgrade verifies the keyed chains, re-seals them with plain hashes and restores the
head privileges; the role keeps LOGIN (it is cluster-wide and may serve other databases).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from vetchart.adapters.db.privileges import (
    APP_ROLE,
    ensure_app_login,
    grant_app_privileges,
)
from vetchart.config import AuditSettings
from vetchart.domain.audit import (
    AuditKey,
    ChainedRow,
    ChainVerifier,
    chain_hash,
    legacy_chain_hash,
)

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HASHED = (
    "id, occurred_at, actor_id, actor_role, practice_id, pet_id, action, resource_type,"
    " resource_id, outcome, request_id, client_address, user_agent, details, chain, seq"
)

LOCK_HEAD_FUNCTION = """
CREATE FUNCTION audit_lock_head(locked_chain smallint)
RETURNS TABLE (seq bigint, hash bytea)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT h.seq, h.hash FROM public.audit_chains AS h
    WHERE h.chain = locked_chain
    FOR UPDATE
$$
"""

MOVE_HEAD_FUNCTION = """
CREATE FUNCTION audit_move_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE public.audit_chains AS h SET seq = NEW.seq, hash = NEW.hash
    WHERE h.chain = NEW.chain AND h.seq = NEW.seq - 1 AND h.hash = NEW.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit entry % does not extend the head of chain %', NEW.seq, NEW.chain
            USING HINT = 'lock the head with audit_lock_head() and chain onto it';
    END IF;
    RETURN NEW;
END
$$
"""


def _execute(statement: str) -> None:
    op.execute(statement)


def _audit_key() -> AuditKey:
    configured = context.config.attributes.get("audit_key")
    if configured is None:
        configured = AuditSettings().key.get_secret_value()
    return AuditKey(str(configured).encode("utf-8"))


def _chains() -> list[int]:
    return [
        row.chain
        for row in op.get_bind().execute(sa.text("SELECT chain FROM audit_chains ORDER BY chain"))
    ]


def _rows(chain: int) -> Iterator[dict[str, Any]]:
    result = op.get_bind().execute(
        sa.text(
            f"SELECT {_HASHED}, prev_hash, hash FROM audit_events"  # noqa: S608 - constants
            " WHERE chain = :chain ORDER BY seq"
        ).columns(details=postgresql.JSONB()),
        {"chain": chain},
    )
    for row in result.mappings():
        yield dict(row)


def _reseal(old_key: AuditKey | None, new_key: AuditKey | None) -> None:
    """Verify every chain under ``old_key`` (None: plain hashes), then recompute every
    entry's hash under ``new_key`` (None: plain) and move the heads to match."""
    bind = op.get_bind()
    op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    for chain in _chains():
        verifier = ChainVerifier(chain, old_key)
        previous = bytes(32)
        updates: list[dict[str, Any]] = []
        for values in _rows(chain):
            stored_prev, stored_hash = values.pop("prev_hash"), values.pop("hash")
            row = ChainedRow(**values)
            broken = verifier.check(row, stored_prev, stored_hash)
            if broken is not None:
                raise RuntimeError(
                    f"audit chain {chain} is broken at entry {broken.seq} ({broken.reason}); "
                    "refusing to re-seal it: investigate with `vetchart audit verify`"
                )
            digest = (
                legacy_chain_hash(previous, row)
                if new_key is None
                else chain_hash(new_key, previous, row)
            )
            updates.append({"id": row.id, "prev": previous, "hash": digest})
            previous = digest
        if updates:
            bind.execute(
                sa.text("UPDATE audit_events SET prev_hash = :prev, hash = :hash WHERE id = :id"),
                updates,
            )
        bind.execute(
            sa.text("UPDATE audit_chains SET hash = :hash, seq = :seq WHERE chain = :chain"),
            {"hash": previous, "seq": len(updates), "chain": chain},
        )
    op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def upgrade() -> None:
    ensure_app_login(_execute)
    _reseal(None, _audit_key())
    op.execute(LOCK_HEAD_FUNCTION)
    op.execute(MOVE_HEAD_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_events_move_head BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_move_head()"
    )
    op.execute("REVOKE ALL ON FUNCTION audit_lock_head(smallint) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION audit_move_head() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_lock_head(smallint) TO {APP_ROLE}")
    grant_app_privileges(_execute)  # audit_chains read-only for the application from here


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_move_head ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_move_head()")
    op.execute("DROP FUNCTION IF EXISTS audit_lock_head(smallint)")
    _reseal(_audit_key(), None)
    grant_app_privileges(_execute)  # the heads writable again: no trigger moves them
