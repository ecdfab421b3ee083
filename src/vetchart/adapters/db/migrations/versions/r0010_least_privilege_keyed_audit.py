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
- ``audit_key_fingerprint`` names the key the chain is keyed with (an HMAC under the key,
  which reveals nothing of it): set here when entries were re-sealed, else by the first
  process that starts (``audit_claim_key``); a process with another key refuses to start
  (adapters/db/safety.py).

Stop every API and worker process before upgrading to this revision: the re-seal locks
the audit tables, and processes of the earlier version can no longer write audit rows
afterwards (they moved the head themselves).

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
from vetchart.adapters.db.safety import audit_key_fingerprint
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


KEY_FINGERPRINT_TABLE = """
CREATE TABLE audit_key_fingerprint (
    id smallint DEFAULT 1 CONSTRAINT pk_audit_key_fingerprint PRIMARY KEY
        CONSTRAINT ck_audit_key_fingerprint_one_row CHECK (id = 1),
    fingerprint bytea NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
)
"""

CLAIM_KEY_FUNCTION = """
CREATE FUNCTION audit_claim_key(claimed bytea) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO public.audit_key_fingerprint (id, fingerprint) VALUES (1, claimed)
    ON CONFLICT (id) DO NOTHING;
    RETURN (SELECT f.fingerprint FROM public.audit_key_fingerprint AS f WHERE f.id = 1);
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
    # No writer may slip an entry in between reading a chain and moving its head.
    op.execute("LOCK TABLE audit_chains, audit_events IN EXCLUSIVE MODE")
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
    key = _audit_key()
    _reseal(None, key)
    op.execute(KEY_FINGERPRINT_TABLE)
    if op.get_bind().execute(sa.text("SELECT EXISTS (SELECT FROM audit_events)")).scalar():
        op.get_bind().execute(
            sa.text("INSERT INTO audit_key_fingerprint (id, fingerprint) VALUES (1, :f)"),
            {"f": audit_key_fingerprint(key)},
        )
    op.execute(CLAIM_KEY_FUNCTION)
    op.execute(LOCK_HEAD_FUNCTION)
    op.execute(MOVE_HEAD_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_events_move_head BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_move_head()"
    )
    op.execute("REVOKE ALL ON FUNCTION audit_lock_head(smallint) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION audit_move_head() FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION audit_claim_key(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_lock_head(smallint) TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_claim_key(bytea) TO {APP_ROLE}")
    grant_app_privileges(_execute)  # audit_chains read-only for the application from here


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_move_head ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_move_head()")
    op.execute("DROP FUNCTION IF EXISTS audit_lock_head(smallint)")
    op.execute("DROP FUNCTION IF EXISTS audit_claim_key(bytea)")
    op.execute("DROP TABLE IF EXISTS audit_key_fingerprint")
    _reseal(_audit_key(), None)
    grant_app_privileges(_execute)  # the heads writable again: no trigger moves them
