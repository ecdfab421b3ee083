"""The application's database role: least privilege, applied by the migrations.

Migrations run as the role that owns the schema. The API and the worker log in as
``APP_ROLE`` (a LOGIN role since revision 0010, neither superuser nor owner of anything;
adapters/db/engine.py ``app_login_url``), so they can read and write rows but not change
the schema, only append to the history tables, and only read the audit chain heads (the
database moves those itself) — and no statement they run can become the owner.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

APP_ROLE = "vetchart_app"

# Tables the application may only read and append to (UPDATE/DELETE/TRUNCATE refused by
# privileges here, and by triggers for every role, the owner included).
APPEND_ONLY_TABLES = ("audit_events", "medical_record_events")
# Tables the application may only read.
READ_ONLY_TABLES = ("alembic_version",)
# Tables only the database's own SECURITY DEFINER functions change (revision 0010 on):
# the application reads them. The audit chain heads move with each audit row's trigger.
DATABASE_MOVED_TABLES = ("audit_chains", "audit_key_fingerprint")


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


def ensure_app_login(execute: Callable[[str], object]) -> None:
    """Make ``APP_ROLE`` a login role without any power beyond its grants. Altered only
    when it is not so already (the role is cluster-wide: other databases share it), and
    refused when the application role owns objects here (it must never be an owner)."""
    execute(  # APP_ROLE is a constant, never input
        f"""
        DO $$
        DECLARE
            app pg_roles%ROWTYPE;
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} LOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;
                END;
            END IF;
            -- One clause per wrong flag: a non-superuser migrating role (a managed
            -- server's) may not write [NO]SUPERUSER/REPLICATION/BYPASSRLS at all.
            SELECT * INTO app FROM pg_roles WHERE rolname = '{APP_ROLE}';
            IF NOT app.rolcanlogin THEN ALTER ROLE {APP_ROLE} LOGIN; END IF;
            IF app.rolsuper THEN ALTER ROLE {APP_ROLE} NOSUPERUSER; END IF;
            IF app.rolcreatedb THEN ALTER ROLE {APP_ROLE} NOCREATEDB; END IF;
            IF app.rolcreaterole THEN ALTER ROLE {APP_ROLE} NOCREATEROLE; END IF;
            IF app.rolreplication THEN ALTER ROLE {APP_ROLE} NOREPLICATION; END IF;
            IF app.rolbypassrls THEN ALTER ROLE {APP_ROLE} NOBYPASSRLS; END IF;
            IF EXISTS (SELECT FROM pg_auth_members WHERE member = '{APP_ROLE}'::regrole) THEN
                RAISE EXCEPTION '{APP_ROLE} is a member of another role; it must be of none';
            END IF;
            IF EXISTS (SELECT FROM pg_class WHERE relowner = '{APP_ROLE}'::regrole)
               OR EXISTS (SELECT FROM pg_proc WHERE proowner = '{APP_ROLE}'::regrole)
               OR EXISTS (SELECT FROM pg_namespace WHERE nspowner = '{APP_ROLE}'::regrole)
            THEN
                RAISE EXCEPTION '{APP_ROLE} owns objects in this database; it must own none';
            END IF;
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO {APP_ROLE}', current_database());
        END
        $$
        """  # noqa: S608
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
    # Once the database moves the audit chain heads itself (revision 0010), the
    # application may only read them.
    execute(
        f"""
        DO $$
        BEGIN
            IF to_regprocedure('audit_move_head()') IS NOT NULL THEN
                REVOKE ALL ON {", ".join(DATABASE_MOVED_TABLES)} FROM {APP_ROLE};
                GRANT SELECT ON {", ".join(DATABASE_MOVED_TABLES)} TO {APP_ROLE};
            END IF;
        END
        $$
        """
    )


def revoke_app_privileges(execute: Callable[[str], object]) -> None:
    """Undo ``grant_app_privileges`` in this database (the role itself is cluster-wide
    and may serve other databases, so it stays)."""
    execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")


# What makes the login an unfit application role: a superuser, a role that can make
# roles or databases or bypass row security, or the owner of any relation here.
_LOGIN_PROBLEMS = """
SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
       EXISTS (SELECT FROM pg_class c WHERE c.relowner = r.oid
               AND c.relnamespace = 'public'::regnamespace) AS owns_tables,
       EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid) AS member_of_roles
FROM pg_roles r WHERE r.rolname = session_user
"""


async def login_privilege_problems(engine: AsyncEngine) -> list[str]:
    """Why the application's login is more than a plain application role (empty: fine)."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(_LOGIN_PROBLEMS))).one_or_none()
    if row is None:
        return []
    names = {
        "rolsuper": "is a superuser",
        "rolcreaterole": "can create roles",
        "rolcreatedb": "can create databases",
        "rolbypassrls": "bypasses row security",
        "owns_tables": "owns the schema's tables",
        "member_of_roles": "is a member of other roles (it could SET ROLE to them)",
    }
    return [problem for column, problem in names.items() if getattr(row, column)]
