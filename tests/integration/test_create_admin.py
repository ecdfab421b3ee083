"""The admin command (``vetchart users create-admin``'s use case) on the real database:
it builds a ``NewAccount`` and stores a SYSTEM_ADMIN with its audit row; bad input and a
taken email store nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from vetchart.config import Settings
from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.entrypoints.admin import create_admin

PASSWORD = "purple-otter-reads-maps-at-dawn"


async def _rows(database_url: str, email: str) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            users = await conn.scalar(
                text("SELECT count(*) FROM users WHERE email = :e AND role = 'SYSTEM_ADMIN'"),
                {"e": email},
            )
            rows = await conn.scalar(
                text("SELECT count(*) FROM audit_events WHERE action = 'user.create_admin'")
            )
    finally:
        await engine.dispose()
    return int(users or 0), int(rows or 0)


async def test_create_admin_stores_a_normalised_admin_once(
    settings: Settings, database_url: str
) -> None:
    _, audited = await _rows(database_url, "root@example.com")
    await create_admin(settings, database_url, "  Root@Example.COM ", " The   Root ", PASSWORD)
    assert await _rows(database_url, "root@example.com") == (1, audited + 1)
    with pytest.raises(Conflict) as taken:
        await create_admin(settings, database_url, "root@example.com", "Again", PASSWORD)
    assert taken.value.code == "email-taken"
    assert await _rows(database_url, "root@example.com") == (1, audited + 1)


async def test_create_admin_refuses_bad_input_and_stores_nothing(
    settings: Settings, database_url: str
) -> None:
    before = await _rows(database_url, "weak@example.com")
    with pytest.raises(RuleViolation) as bad_email:
        await create_admin(settings, database_url, "not-an-email", "Root", PASSWORD)
    assert bad_email.value.rule == "email.invalid"
    with pytest.raises(RuleViolation) as weak:
        await create_admin(settings, database_url, "weak@example.com", "Root", "short")
    assert weak.value.rule == "password.too_short"
    assert await _rows(database_url, "weak@example.com") == before == (0, before[1])
