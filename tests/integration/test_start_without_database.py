"""The API starts while its database is unreachable, says so on /health/ready, and
recovers on its own when the database answers (issue 13, operations)."""

from __future__ import annotations

import time

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from tests.conftest import make_settings
from tests.db_proxy import DatabaseProxy
from vetchart.api.app import create_app
from vetchart.config import DatabaseSettings

# Start-up waits this long for the database before serving anyway.
STARTUP_WAIT_SECONDS = 0.5


async def test_serves_while_the_database_is_down_and_recovers(database_url: str) -> None:
    proxy = DatabaseProxy(database_url, refusing=True)  # the database is "down"
    url = await proxy.start()
    settings = make_settings(
        url,
        database=DatabaseSettings(
            startup_timeout=STARTUP_WAIT_SECONDS, pool_size=2, max_overflow=0
        ),
    )
    app = create_app(settings, database_url=url)
    started = time.monotonic()
    try:
        async with LifespanManager(app, startup_timeout=30):
            assert time.monotonic() - started < 10, "start-up did not wait for the database"
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://testserver") as http:
                live = await http.get("/health/live")
                assert live.status_code == 200
                down = await http.get("/health/ready")
                assert down.status_code == 503
                failing = {c["name"] for c in down.json()["checks"] if not c["ok"]}
                assert "database" in failing

                proxy.refusing = False  # the database is back
                ready = await http.get("/health/ready")
                assert ready.status_code == 200, ready.text
                assert all(c["ok"] for c in ready.json()["checks"])
    finally:
        await proxy.stop()
