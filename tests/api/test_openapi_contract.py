"""The API keeps its OpenAPI contract: schemathesis over every operation of the schema.

The schema is taken from the application itself, so every operation added later is
parametrized here without touching this file. The app runs in-process under uvicorn in a
background thread, with its lifespan (the container: engines, readiness), and is called
over real HTTP, as clients call it. One server on one database (a copy of the migrated
template) serves every operation a test process runs, as one deployment serves every
client: starting an app and a database per operation was a quarter of the suite's time,
and what an operation's answers must conform to does not depend on what other operations
stored before (a conforming answer is owed on any data).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from schemathesis.core.result import Ok

from tests.conftest import database_url_of, make_settings
from tests.dbpool import DatabasePool
from vetchart.api.app import create_app
from vetchart.config import ApiSettings, RateLimitSettings, Settings

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def contract_settings(database_url: str) -> Settings:
    # Rate limiting off: with it on, most generated requests would only ever meet a 429,
    # and the handlers behind the limiter would go unexercised.
    return make_settings(database_url, rate_limit=RateLimitSettings(enabled=False))


# Rendering the schema needs no database: the lifespan, which connects, does not run here.
_NO_DATABASE = "postgresql://schema-only@127.0.0.1:9/none"
SCHEMA_APP = create_app(contract_settings(_NO_DATABASE), database_url=_NO_DATABASE)
SCHEMA_DOCUMENT = SCHEMA_APP.openapi()

# Every built-in check is on by default in schemathesis 4 (max_response_time is the only
# one that needs a limit, so it stays off). Examples per operation are bounded and the
# generation is derandomized, so a run is fast and repeatable; no example database is kept.
#
# One deliberate setting: `positive_data_acceptance` also accepts 422. The contract
# (API.md) answers business-rule violations on schema-valid input with 422 naming the
# rule: a password that is long enough for the schema but blocklisted or patterned, an
# email the domain cannot parse. JSON Schema cannot express those rules, so a 422 for
# schema-valid data is the documented behaviour, not a too-loose schema. Likewise 423: a
# sign-in name locked after repeated failures (the generated credentials keep failing);
# 410, an invitation token that is not (or no longer) valid, which is to invitations what
# 401 is to credentials; and 428, a versioned PATCH sent without If-Match (the header is
# optional in the schema so that its absence gets the documented 428).
POSITIVE_DATA_EXPECTED = [
    "2xx",
    "3xx",
    "401",
    "403",
    "404",
    "409",
    "410",
    "422",
    "423",
    "428",
    "429",
    "5xx",
]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "max-examples": 25,
            "deterministic": True,
            "database": "none",
        },
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_EXPECTED}},
    }
)
schema = schemathesis.openapi.from_dict(SCHEMA_DOCUMENT, config=CONFIG)

SERVER_START_TIMEOUT_SECONDS = 30.0
SERVER_STOP_TIMEOUT_SECONDS = 15.0


class LiveServer:
    """The app under uvicorn in a thread (lifespan on), on an ephemeral port."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="contract-test-server", daemon=True
        )
        self.base_url = ""

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server exited during start-up (lifespan failed?)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the server did not start in time")
            time.sleep(0.02)
        (listener,) = self._server.servers
        port = listener.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=SERVER_STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            raise TimeoutError("the server did not stop in time")


@pytest.fixture(scope="session")
def live_server(pg_server_url: str, database_pool: DatabasePool) -> Iterator[str]:
    """Started by the first test of this process that needs it, stopped at the end of the
    session (under xdist each worker has its own, on its own database)."""
    name = database_pool.take()
    database_url = database_url_of(pg_server_url, name)
    server = LiveServer(create_app(contract_settings(database_url), database_url=database_url))
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
        database_pool.discard(name)


def test_schemathesis_loads_every_operation_of_the_schema() -> None:
    documented = {
        (method.upper(), path)
        for path, item in SCHEMA_DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert ("GET", "/health/ready") in documented
    loaded = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot test an operation: {result.err()}"
        operation = result.ok()
        loaded.add((operation.method.upper(), operation.path))
    assert loaded == documented


def test_the_served_schema_is_the_one_under_test(live_server: str) -> None:
    response = httpx.get(f"{live_server}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json() == SCHEMA_DOCUMENT


@schema.parametrize()
def test_api_conforms_to_its_schema(case: schemathesis.Case, live_server: str) -> None:
    case.call_and_validate(base_url=live_server, timeout=10)


def test_trace_is_refused_without_echo(live_server: str) -> None:
    secret = "Bearer must-not-be-echoed"
    for path in ("/health/live", "/no/such/path"):
        response = httpx.request(
            "TRACE", f"{live_server}{path}", headers={"Authorization": secret}, timeout=10
        )
        assert response.status_code == 405, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert secret not in response.text
        assert response.json()["status"] == 405


# --- documentation endpoints ------------------------------------------------------------

DOC_PATHS = ("/openapi.json", "/docs", "/redoc")


async def test_docs_are_served_when_enabled(client: AsyncClient) -> None:
    for path in DOC_PATHS:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "vetchart API"
    assert "/openapi.json" in (await client.get("/docs")).text
    assert "/openapi.json" in (await client.get("/redoc")).text


@pytest.fixture
async def client_without_docs(database_url: str) -> AsyncIterator[AsyncClient]:
    no_docs = make_settings(database_url, api=ApiSettings(docs_enabled=False))
    assert no_docs.docs_enabled is False
    application = create_app(no_docs, database_url=database_url)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_docs_are_off_when_disabled(client_without_docs: AsyncClient) -> None:
    for path in DOC_PATHS:
        response = await client_without_docs.get(path)
        assert response.status_code == 404, (path, response.text)
    # The API itself still answers.
    assert (await client_without_docs.get("/health/live")).status_code == 200


def _route_modules() -> dict[str, str]:
    """Every route's full path → the module of its router (the routers are included
    straight under the app, busiest first: api/app.py)."""
    found: dict[str, str] = {}
    for included in SCHEMA_APP.routes:
        router = getattr(included, "original_router", None)
        if router is None:
            continue
        prefix = included.include_context.prefix  # type: ignore[attr-defined]
        for route in router.routes:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None:
                # "{key:path}" is documented as "{key}".
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)
                found[path] = endpoint.__module__
    return found


def test_no_path_of_one_router_matches_another_routers_path() -> None:
    """The routers' order in the app is chosen for speed; that is only safe while no
    request path could be taken by a route of another router."""
    modules = _route_modules()
    documented = {path for path in SCHEMA_DOCUMENT["paths"] if path.startswith("/api/")}
    assert documented <= set(modules), "the walk found every documented route"
    patterns = {
        path: re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$") for path in modules
    }
    clashes = [
        (path, other)
        for path in modules
        for other, pattern in patterns.items()
        if other != path
        and pattern.match(re.sub(r"\{[^}]+\}", "x", path))
        and modules[other] != modules[path]
    ]
    assert clashes == []
