"""One error surface: every DomainError the code defines has its status in
api/problems.py, and the answers built there keep their historical bodies."""

from __future__ import annotations

import json

import vetchart.api.app
import vetchart.bootstrap  # noqa: F401
from vetchart.api.problems import STATUS_BY_ERROR, domain_error_response
from vetchart.domain import errors as e
from vetchart.domain import uploads


def _subclasses(cls: type[e.DomainError]) -> set[type[e.DomainError]]:
    found: set[type[e.DomainError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_domain_error_has_a_status_in_problems_py() -> None:
    unmapped = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _subclasses(e.DomainError)
        if cls.__module__.startswith("vetchart.")
        and not cls.__name__.startswith("_")
        and not any(base in STATUS_BY_ERROR for base in cls.__mro__)
    )
    assert unmapped == []


def _body(error: e.DomainError) -> dict[str, object]:
    response = domain_error_response(error, "/api/v1/x")
    body = json.loads(bytes(response.body))
    assert isinstance(body, dict)
    return body


def test_the_answers_once_built_by_hand_keep_their_bodies_and_headers() -> None:
    too_large = domain_error_response(e.ContentTooLarge(1024), "/api/v1/x")
    assert too_large.status_code == 413
    assert too_large.headers["connection"] == "close"
    assert _body(e.ContentTooLarge(1024))["max_bytes"] == 1024

    cursor = _body(e.InvalidCursor())
    assert (cursor["status"], cursor["title"], cursor["type"]) == (
        400,
        "Bad Request",
        "https://vetchart.example/problems/bad-request",
    )

    limited = domain_error_response(e.RateLimited(retry_after_seconds=7), "/api/v1/x")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert _body(e.RateLimited(retry_after_seconds=7))["title"] == "Too Many Requests"

    not_multipart = _body(uploads.NotMultipart())
    assert (not_multipart["status"], not_multipart["title"]) == (415, "Unsupported Media Type")

    in_progress = domain_error_response(e.IdempotencyKeyInProgress(), "/api/v1/x")
    assert (in_progress.status_code, in_progress.headers["retry-after"]) == (409, "1")
    assert _body(e.IdempotencyKeyReused())["status"] == 422

    not_ready = _body(e.NotReady(["database"], [{"name": "database", "ok": False}]))
    assert (not_ready["status"], not_ready["detail"]) == (503, "Failing checks: database")
    assert not_ready["checks"] == [{"name": "database", "ok": False}]
