"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from vetchart import bootstrap
from vetchart.api.bounded_input import BoundedInputMiddleware
from vetchart.api.denials import record_denial
from vetchart.api.idempotency import IdempotencyMiddleware
from vetchart.api.metrics import HttpMetrics, PoolCollector
from vetchart.api.middleware import (
    ErrorMiddleware,
    ErrorTranslator,
    RequestContextMiddleware,
)
from vetchart.api.pagination import CursorCodec
from vetchart.api.problems import install_problem_handlers
from vetchart.api.responses import JsonResponse
from vetchart.api.routers import (
    api_keys,
    appointments,
    audit,
    auth,
    fhir,
    files,
    health,
    invitations,
    kb,
    messaging,
    owner_lifecycle,
    owners,
    pets,
    practices,
    records,
    scheduling,
    users,
    visits,
    webhooks,
)
from vetchart.api.schemas.common import problem_responses
from vetchart.api.uploads import state_upload_limits
from vetchart.config import Settings

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"
# Allocations (minus deallocations) between two young-generation collections, instead of
# CPython's 700: a request's short-lived objects die before they are ever scanned.
GC_YOUNG_THRESHOLD = 20_000

DESCRIPTION = """
The HTTP API of vetchart, a veterinary practice platform.

Errors are `application/problem+json` (RFC 9457) with `type`, `title`, `status`,
`detail`, `instance` and `request_id`; validation errors add `errors: [{loc, msg, type}]`.
Every response carries `X-Request-ID`.
"""


def create_app(
    settings: Settings,
    *,
    database_url: str,
    tracer_provider: TracerProvider | None = None,
    wait_for_db: bool = True,
    tune_gc: bool = False,
) -> FastAPI:
    """Build the ASGI app. The container (engines, adapters) is built in the lifespan.

    ``tune_gc`` (the server process, not the tests): once started, everything built so far
    moves out of the garbage collector's sight (``gc.freeze``) and young collections run
    less often, since the objects a request allocates are short-lived (bench/REPORT.md: a
    fifth of a list's time went to collections scanning the framework's long-lived objects).
    """
    provider = tracer_provider or bootstrap.build_tracer_provider(settings)
    registry = CollectorRegistry()
    http_metrics = HttpMetrics(registry)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await bootstrap.build_container(
            settings, database_url=database_url, tracer_provider=provider, wait_for_db=wait_for_db
        )
        app.state.container = container
        state["container"] = container
        container.start()
        stop_worker = await container.worker.start_embedded() if settings.embedded_worker else None
        if tune_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        log.info("app.started", env=settings.env.value, embedded_worker=stop_worker is not None)
        try:
            yield
        finally:
            state.pop("container", None)
            if stop_worker is not None:
                await stop_worker()
            await container.aclose()
            log.info("app.stopped")

    def translator() -> ErrorTranslator | None:
        container = state.get("container")
        return container.translate_error if container is not None else None

    def pool_stats() -> bootstrap.PoolStats | None:
        container = state.get("container")
        return container.pool_stats() if container is not None else None

    registry.register(PoolCollector(pool_stats))
    # Circuit breaker states of the outside services (vetchart_circuit_state{service}).
    registry.register(
        bootstrap.circuit_state_collector(
            lambda: container.breakers if (container := state.get("container")) else None
        )
    )
    # The password-hashing queue (vetchart_password_hash_queue_depth, _in_flight, _shed_total).
    registry.register(
        bootstrap.hash_pool_collector(
            lambda: container.hasher if (container := state.get("container")) else None
        )
    )

    docs = settings.docs_enabled
    middleware = [
        Middleware(RequestContextMiddleware, metrics=http_metrics),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors.origins,
            allow_credentials=settings.cors.allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=settings.cors.max_age_seconds,
        ),
        # Body caps, NUL in the URL, form charsets: before any work (api/bounded_input.py).
        Middleware(
            BoundedInputMiddleware,
            max_body_bytes=settings.server.max_body_bytes,
            max_auth_body_bytes=settings.server.max_auth_body_bytes,
        ),
        Middleware(IdempotencyMiddleware, container=lambda: state.get("container")),
        Middleware(ErrorMiddleware, translate_error=translator),
    ]
    if provider is not None:
        middleware.insert(0, Middleware(bootstrap.TracingMiddleware, tracer_provider=provider))
    app = FastAPI(
        title="vetchart API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        debug=False,
        middleware=middleware,
        # Any operation may meet these: an unreadable body, a body over its cap, an
        # unexpected error, or a database that cannot serve (pool exhausted, connection lost).
        responses=problem_responses(400, 413, 500, 503),
    )
    app.state.settings = settings
    app.state.metrics_registry = registry
    app.state.cursor_codec = CursorCodec(settings.auth.jwt_secret.get_secret_value().encode())
    install_problem_handlers(app, on_error=record_denial)

    app.include_router(health.router)
    # Each router straight under the app (one level of route matching, not two), the busiest
    # first: FastAPI tries the routes in order. No path of one router can match another
    # router's (tests/api/test_openapi_contract.py checks it), so the order is free.
    for router in (
        records.router,
        pets.router,
        appointments.router,
        visits.router,
        owners.router,
        practices.router,
        auth.router,
        users.router,
        invitations.router,
        audit.router,
        files.router,
        kb.router,
        owner_lifecycle.router,
        messaging.router,
        scheduling.router,
        webhooks.router,
        api_keys.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(fhir.router)  # /fhir/R4 (docs/fhir.md)
    state_upload_limits(app, settings)
    return app
