"""HTTP conventions of every endpoint (API.md "Conventions" and "Service"), through the ASGI app:
request ids, problem+json errors, security headers, CORS, metrics, readiness and the pool."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import structlog.testing
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from httpx import ASGITransport, AsyncClient, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from tests.conftest import make_settings
from vetchart.api.app import create_app
from vetchart.config import DatabaseSettings, Settings

ALLOWED_ORIGIN = "https://app.vetchart.test"
EVIL_ORIGIN = "https://evil.example"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
SECRET_MESSAGE = "secret internal detail"


# --- helpers and probe routes -----------------------------------------------------------


class PetIn(BaseModel):
    name: str = Field(min_length=1)
    weight_kg: float = Field(gt=0)


async def _boom() -> None:
    raise RuntimeError(SECRET_MESSAGE)


async def _create_pet(pet: PetIn) -> dict[str, object]:
    return {"name": pet.name, "weight_kg": pet.weight_kg}


async def _thing(thing_id: int) -> dict[str, int]:
    return {"id": thing_id}


async def _with_headers() -> JSONResponse:
    # Plain starlette JSONResponse (no charset), a server header and a cacheable header:
    # the middleware must normalise all three.
    return JSONResponse(
        {"ok": True}, headers={"Server": "leaky/1.0", "Cache-Control": "public, max-age=600"}
    )


async def _use_database(request: Request) -> dict[str, int]:
    async with request.app.state.container.engine.connect() as conn:
        value = await conn.scalar(text("SELECT 1"))
    return {"value": int(value)}


def add_probe_routes(app: FastAPI) -> None:
    """Routes that exist only in these tests (added before the first request)."""
    app.add_api_route("/api/v1/_test/boom", _boom, methods=["GET"])
    app.add_api_route("/api/v1/_test/pets", _create_pet, methods=["POST"], status_code=201)
    app.add_api_route("/api/v1/_test/things/{thing_id}", _thing, methods=["GET"])
    app.add_api_route("/api/v1/_test/headers", _with_headers, methods=["GET"])
    app.add_api_route("/api/v1/_test/db", _use_database, methods=["GET"])


@pytest.fixture
async def probed(app: FastAPI, client: AsyncClient) -> AsyncClient:
    """The conftest app (fresh migrated database) with the probe routes."""
    add_probe_routes(app)
    return client


@asynccontextmanager
async def serving(application: FastAPI) -> AsyncIterator[AsyncClient]:
    async with LifespanManager(application):
        transport = ASGITransport(app=application, client=("203.0.113.10", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@asynccontextmanager
async def running(
    settings: Settings, database_url: str, *, wait_for_db: bool = True
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    application = create_app(settings, database_url=database_url, wait_for_db=wait_for_db)
    add_probe_routes(application)
    async with serving(application) as http:
        yield application, http


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there any more: connections are refused at once.
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x"


@pytest.fixture(scope="module")
def offline_app() -> FastAPI:
    """The app with the probe routes, pointed at a closed port, built once per module
    (building the routes is the slow part); every test runs its own lifespan on it."""
    url = closed_port_url()
    application = create_app(make_settings(url), database_url=url, wait_for_db=False)
    add_probe_routes(application)
    return application


@pytest.fixture
async def offline(offline_app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client of ``offline_app``: for the conventions that do not involve the database
    (no database to create, so these tests stay fast)."""
    async with serving(offline_app) as http:
        yield http


def assert_problem(response: Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json; charset=utf-8"
    body = response.json()
    assert set(body) >= PROBLEM_MEMBERS, body
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- request ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        "abc-123",
        "0b6f2c1e-8f6a-4f4e-9a57-1a2b3c4d5e6f",
        "trace.id:part_2",
        "x" * 128,
    ],
)
async def test_sane_request_id_is_echoed(offline: AsyncClient, sent: str) -> None:
    response = await offline.get("/health/live", headers={"X-Request-ID": sent})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == sent


async def test_request_id_is_generated_when_absent(offline: AsyncClient) -> None:
    first = await offline.get("/health/live")
    second = await offline.get("/health/live")

    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert GENERATED_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "sent",
    [
        "x" * 129,
        "has spaces",
        "line\nbreak",
        "carriage\r\nX-Injected: 1",
        "tab\there",
        "<script>alert(1)</script>",
        "ünïcode".encode(),
        "",
    ],
)
async def test_insane_request_id_is_replaced(offline: AsyncClient, sent: str | bytes) -> None:
    response = await offline.get("/api/v1/no-such-thing", headers={"X-Request-ID": sent})

    returned = response.headers["x-request-id"]
    assert returned != (sent.decode() if isinstance(sent, bytes) else sent)
    assert GENERATED_ID.fullmatch(returned)
    assert "x-injected" not in response.headers
    # The problem body carries the same (replaced) id.
    assert response.json()["request_id"] == returned


# --- problem+json errors ----------------------------------------------------------------


async def test_unknown_route_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/api/v1/definitely/not/here", headers={"X-Request-ID": "rid-404"})

    body = assert_problem(response, 404)
    assert body["request_id"] == "rid-404"
    assert body["instance"] == "/api/v1/definitely/not/here"
    assert body["title"] == "Not Found"


async def test_unknown_route_outside_the_api_is_a_problem_too(offline: AsyncClient) -> None:
    assert_problem(await offline.get("/nope"), 404)


async def test_wrong_method_is_a_405_problem(offline: AsyncClient) -> None:
    response = await offline.post("/health/live")

    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("method", ["TRACE", "TRACK"])
@pytest.mark.parametrize("path", ["/health/live", "/api/v1/whatever"])
async def test_trace_is_refused_everywhere(offline: AsyncClient, method: str, path: str) -> None:
    response = await offline.request(method, path, headers={"X-Request-ID": "trace-me"})

    body = assert_problem(response, 405)
    assert body["request_id"] == "trace-me"
    # Nothing of the request is echoed back.
    assert "trace-me" not in response.text.replace('"request_id":"trace-me"', "")


async def test_unhandled_error_is_a_bare_500_problem(offline: AsyncClient) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await offline.get(
            "/api/v1/_test/boom", headers={"X-Request-ID": "rid-500", "Origin": ALLOWED_ORIGIN}
        )

    # The operators get the exception (in the log), the client does not.
    (logged,) = [entry for entry in logs if entry["event"] == "http.unhandled_error"]
    assert logged["exc_info"] is True
    assert logged["log_level"] == "error"
    body = assert_problem(response, 500)
    assert body["request_id"] == "rid-500"
    assert body["type"].endswith("/internal-error")
    for leak in (SECRET_MESSAGE, "Traceback", "RuntimeError", "File ", ".py", "_boom"):
        assert leak not in response.text
    # Still carries the security headers, and a later request works normally.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    # Readable by the front end (CORS headers on the error response too).
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert (await offline.get("/health/live")).status_code == 200


async def test_validation_error_is_a_422_problem_with_errors(offline: AsyncClient) -> None:
    response = await offline.post(
        "/api/v1/_test/pets", json={"name": "", "weight_kg": "heavy", "extra": 1}
    )

    body = assert_problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 2
    for item in errors:
        # Exactly these members: the rejected input is not echoed back.
        assert set(item) == {"loc", "msg", "type"}
        assert isinstance(item["msg"], str)
        assert item["msg"]
        assert isinstance(item["type"], str)
        assert all(isinstance(part, str) for part in item["loc"])
    by_loc = {tuple(item["loc"]): item["type"] for item in errors}
    assert by_loc == {("body", "name"): "string_too_short", ("body", "weight_kg"): "float_parsing"}
    assert "heavy" not in response.text


async def test_malformed_json_is_a_422_problem(offline: AsyncClient) -> None:
    response = await offline.post(
        "/api/v1/_test/pets",
        content=b'{"name": "Rex", ',
        headers={"Content-Type": "application/json"},
    )

    body = assert_problem(response, 422)
    assert body["errors"]
    assert body["errors"][0]["type"] == "json_invalid"


async def test_valid_body_passes_validation(offline: AsyncClient) -> None:
    response = await offline.post("/api/v1/_test/pets", json={"name": "Rex", "weight_kg": 12.5})

    assert response.status_code == 201
    assert response.json() == {"name": "Rex", "weight_kg": 12.5}


async def test_path_parameter_validation_is_a_422_problem(offline: AsyncClient) -> None:
    body = assert_problem(await offline.get("/api/v1/_test/things/not-a-number"), 422)

    assert body["errors"][0]["loc"] == ["path", "thing_id"]


# --- security headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/nope"),
        ("POST", "/health/live"),
        ("GET", "/api/v1/_test/headers"),
        ("GET", "/openapi.json"),
    ],
)
async def test_security_headers_on_every_response(
    offline: AsyncClient, method: str, path: str
) -> None:
    response = await offline.request(method, path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "server" not in response.headers
    assert response.headers["x-request-id"]
    if path.startswith("/api/"):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"


async def test_api_responses_are_never_cacheable(offline: AsyncClient) -> None:
    response = await offline.get("/api/v1/_test/headers")

    assert response.status_code == 200
    # The route asked for public caching; personal data must not be cached.
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert "server" not in response.headers


@pytest.mark.parametrize(
    "path",
    ["/health/live", "/health/ready", "/api/v1/nope", "/api/v1/_test/headers", "/openapi.json"],
)
async def test_json_content_types_declare_utf8(offline: AsyncClient, path: str) -> None:
    response = await offline.get(path)

    content_type = response.headers["content-type"]
    assert "json" in content_type
    assert "charset=utf-8" in content_type
    assert content_type.count("charset") == 1


# --- CORS -------------------------------------------------------------------------------


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }


async def test_cors_preflight_from_the_allowed_origin(offline: AsyncClient) -> None:
    response = await offline.options("/api/v1/anything", headers=_preflight(ALLOWED_ORIGIN))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["x-request-id"]


async def test_cors_preflight_from_another_origin_is_not_allowed(offline: AsyncClient) -> None:
    response = await offline.options("/api/v1/anything", headers=_preflight(EVIL_ORIGIN))

    assert response.status_code >= 400
    assert "access-control-allow-origin" not in response.headers


async def test_cors_simple_request_headers(offline: AsyncClient) -> None:
    allowed = await offline.get("/health/live", headers={"Origin": ALLOWED_ORIGIN})
    evil = await offline.get("/health/live", headers={"Origin": EVIL_ORIGIN})

    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = allowed.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed
    assert "access-control-allow-origin" not in evil.headers


async def test_a_503_is_readable_cross_origin(offline: AsyncClient) -> None:
    """A browser only shows the problem body, request id and Retry-After of an error to
    the front end if the error response carries the CORS headers too."""
    down = await offline.get("/api/v1/_test/db", headers={"Origin": ALLOWED_ORIGIN})

    assert_problem(down, 503)
    assert down.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = down.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed


# --- metrics ----------------------------------------------------------------------------


async def test_metrics_exposes_requests_by_route_template_and_the_pool(
    probed: AsyncClient,
) -> None:
    for _ in range(2):
        assert (await probed.get("/health/live")).status_code == 200
    assert (await probed.get("/api/v1/_test/things/4242")).status_code == 200
    assert (await probed.get("/api/v1/unknown/98765")).status_code == 404

    response = await probed.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    metrics = response.text
    assert "# TYPE vetchart_http_requests_total counter" in metrics
    assert (
        'vetchart_http_requests_total{method="GET",route="/health/live",status="200"} 2.0'
        in metrics
    )
    assert (
        'vetchart_http_requests_total{method="GET",route="/api/v1/_test/things/{thing_id}",'
        'status="200"} 1.0' in metrics
    )
    assert 'route="<unmatched>",status="404"' in metrics
    # Raw paths never become label values (unbounded cardinality).
    assert "4242" not in metrics
    assert "98765" not in metrics
    assert 'vetchart_http_request_duration_seconds_bucket{le="0.005",method="GET"' in metrics
    assert "vetchart_http_request_duration_seconds_count" in metrics
    # make_settings uses pool_size=5.
    assert re.search(r"^vetchart_db_pool_size 5\.0$", metrics, re.MULTILINE)
    assert re.search(r"^vetchart_db_pool_checked_out 0\.0$", metrics, re.MULTILINE)


async def test_metrics_are_per_application(database_url: str) -> None:
    settings = make_settings(database_url)
    async with running(settings, database_url) as (_, first):
        await first.get("/health/live")
        await first.get("/health/live")
    async with running(settings, database_url) as (_, second):
        await second.get("/health/live")
        metrics = (await second.get("/metrics")).text
    assert 'route="/health/live",status="200"} 1.0' in metrics


# --- readiness --------------------------------------------------------------------------


async def test_readiness_names_the_database_when_it_is_unreachable() -> None:
    url = closed_port_url()
    started = time.perf_counter()
    async with running(make_settings(url), url, wait_for_db=False) as (_, http):
        response = await http.get("/health/ready")
        live = await http.get("/health/live")
    elapsed = time.perf_counter() - started

    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "5"
    assert "database" in str(body["detail"])
    checks = {c["name"]: c["ok"] for c in body["checks"]}  # type: ignore[attr-defined]
    assert checks == {"database": False, "migrations": False}
    assert "127.0.0.1" not in response.text
    # Liveness does not depend on the database.
    assert live.status_code == 200
    assert elapsed < 5


async def test_readiness_names_migrations_on_an_unmigrated_database(
    empty_database_url: str,
) -> None:
    settings = make_settings(empty_database_url)
    async with running(settings, empty_database_url) as (_, http):
        response = await http.get("/health/ready")

    body = assert_problem(response, 503)
    assert "migrations" in str(body["detail"])
    assert "database" not in str(body["detail"]).replace("Failing checks:", "")
    checks = {c["name"]: c for c in body["checks"]}  # type: ignore[attr-defined]
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["ok"] is False


async def test_readiness_is_ok_on_a_migrated_database(client: AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["status"] == "ok"


# --- the database under stress ----------------------------------------------------------


async def test_pool_exhaustion_answers_503_quickly(database_url: str) -> None:
    settings = make_settings(
        database_url,
        database=DatabaseSettings(url=database_url, pool_size=1, max_overflow=0, pool_timeout=0.2),
    )
    async with running(settings, database_url) as (application, http):
        engine = application.state.container.engine
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            started = time.perf_counter()
            response = await http.get("/api/v1/_test/db", headers={"X-Request-ID": "busy-1"})
            elapsed = time.perf_counter() - started
            metrics = (await http.get("/metrics")).text
        # Once the connection is back, the same route works.
        recovered = await http.get("/api/v1/_test/db")

    body = assert_problem(response, 503)
    assert elapsed < 3.0  # the pool timeout is 0.2 s; generous for a loaded CI machine
    assert response.headers["retry-after"] == "1"
    assert body["request_id"] == "busy-1"
    assert body["type"].endswith("/unavailable")
    for leak in ("QueuePool", "TimeoutError", "sqlalchemy", "overflow"):
        assert leak not in response.text
    assert re.search(r"^vetchart_db_pool_checked_out 1\.0$", metrics, re.MULTILINE)
    # The metric records the status the client got.
    assert (
        'vetchart_http_requests_total{method="GET",route="/api/v1/_test/db",status="503"} 1.0'
        in metrics
    )
    assert 'route="/api/v1/_test/db",status="500"' not in metrics
    assert recovered.status_code == 200
    assert recovered.json() == {"value": 1}


async def test_unreachable_database_in_a_route_is_a_503_problem() -> None:
    url = closed_port_url()
    async with running(make_settings(url), url, wait_for_db=False) as (_, http):
        started = time.perf_counter()
        response = await http.get("/api/v1/_test/db")
        elapsed = time.perf_counter() - started

    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "5"
    assert body["type"].endswith("/unavailable")
    assert "127.0.0.1" not in response.text
    assert "Connect" not in response.text
    assert elapsed < 5
