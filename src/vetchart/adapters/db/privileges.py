"""The application's database role: least privilege, applied by the migrations.

Migrations run as the role that owns the schema. The API and the worker connect with
``DATABASE_URL`` and switch to ``APP_ROLE`` for every connection (the ``role`` startup
setting), so whatever login they use, they can read and write rows but not change the
schema, and they can only append to the history tables.
"""

from __future__ import annotations

from collections.abc import Callable

APP_ROLE = "vetchart_app"

# Tables the application may only read and append to (UPDATE/DELETE/TRUNCATE refused by
# privileges here, and by triggers for every role, the owner included).
APPEND_ONLY_TABLES = ("audit_events", "medical_record_events")
# Tables the application may only read.
READ_ONLY_TABLES = ("alembic_version",)


def ensure_app_role(execute: Callable[[str], object]) -> None:
    """Create the NOLOGIN group role once per cluster (concurrent creators are tolerated)
    and let the migrating role switch to it."""
    execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;
                END;
            END IF;
            IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
        END
        $$
        """
    )


def grant_app_privileges(execute: Callable[[str], object]) -> None:
    """(Re)apply the application's privileges on every table of the schema. Call it at
    the end of every migration that creates tables."""
    execute(f"REVOKE CREATE ON SCHEMA public FROM {APP_ROLE}")
    execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    for table in (*APPEND_ONLY_TABLES, *READ_ONLY_TABLES):
        execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
        execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")
    for table in APPEND_ONLY_TABLES:
        execute(f"GRANT INSERT ON {table} TO {APP_ROLE}")


def revoke_app_privileges(execute: Callable[[str], object]) -> None:
    """Undo ``grant_app_privileges`` in this database (the role itself is cluster-wide
    and may serve other databases, so it stays)."""
    execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
