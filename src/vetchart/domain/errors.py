"""Domain errors: raised where a rule lives, translated to HTTP in exactly one place (api)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every error the use cases raise on purpose.

    ``code`` is a stable, machine-readable slug (it becomes the problem ``type``);
    ``detail`` is a human sentence safe to show to the caller; ``extra`` carries
    additional problem members (e.g. the clashing appointment's id).
    """

    code: str = "error"
    title: str = "Error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra: dict[str, Any] = dict(extra or {})


class NotFound(DomainError):
    code = "not-found"
    title = "Not found"


class Forbidden(DomainError):
    code = "forbidden"
    title = "Forbidden"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    title = "Authentication required"


class Conflict(DomainError):
    code = "conflict"
    title = "Conflict"


class RuleViolation(DomainError):
    """A business rule refused the input; ``rule`` and ``field`` name what failed."""

    code = "rule-violation"
    title = "Business rule violated"

    def __init__(
        self,
        detail: str,
        *,
        rule: str,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        merged = {"rule": rule, **({"field": field} if field else {}), **dict(extra or {})}
        super().__init__(detail, extra=merged)
        self.rule = rule
        self.field = field


class PreconditionFailed(DomainError):
    code = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(DomainError):
    code = "precondition-required"
    title = "Precondition required"


class Gone(DomainError):
    code = "gone"
    title = "Gone"


class _RetryLater(DomainError):
    """An error that says when to try again (``Retry-After``), when it knows."""

    def __init__(
        self,
        detail: str,
        *,
        retry_after_seconds: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, extra=extra)
        self.retry_after_seconds = retry_after_seconds


class Locked(_RetryLater):
    code = "locked"
    title = "Locked"


class TooManyRequests(_RetryLater):
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds)


class RateLimited(TooManyRequests):
    """A rate limit is spent (the ``RateLimit-*`` headers come from the request's state)."""

    title = "Too Many Requests"

    def __init__(self, *, retry_after_seconds: int) -> None:
        super().__init__(
            "Too many requests; slow down and retry later.",
            retry_after_seconds=retry_after_seconds,
        )


class Unavailable(_RetryLater):
    """A dependency (database, storage, an outside service) cannot serve right now."""

    code = "unavailable"
    title = "Service unavailable"


class NotReady(Unavailable):
    """A readiness check failed (the checks are named in ``checks``)."""

    code = "not-ready"
    title = "Service not ready"

    def __init__(self, failing: list[str], checks: list[dict[str, Any]]) -> None:
        super().__init__(
            "Failing checks: " + ", ".join(failing),
            retry_after_seconds=5,
            extra={"checks": checks},
        )


class InvalidCursor(DomainError):
    """A forged or altered pagination cursor, or one from another list or filters (400)."""

    code = "bad-request"
    title = "Bad Request"

    def __init__(self, detail: str = "The cursor is not valid for this list.") -> None:
        super().__init__(detail)


class ContentTooLarge(DomainError):
    """A request body over its cap, answered before any work (413; the connection closes:
    the rest of the body is not read)."""

    code = "content-too-large"
    title = "Content too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than the limit of {limit} bytes for this endpoint.",
            extra={"max_bytes": limit},
        )
        self.limit = limit


class IdempotencyKeyInvalid(DomainError):
    code = "idempotency-key-invalid"
    title = "Invalid Idempotency-Key"

    def __init__(self) -> None:
        super().__init__("Idempotency-Key must be 1 to 255 visible ASCII characters.")


class IdempotencyKeyReused(DomainError):
    """The key was used for a different request (422)."""

    code = "idempotency-key-reused"
    title = "Idempotency-Key conflict"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used for a different request.")


class IdempotencyKeyInProgress(_RetryLater):
    """The first request with this key is still running (409, retry in a second)."""

    code = "idempotency-key-in-progress"
    title = "Idempotency-Key conflict"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed.",
            retry_after_seconds=1,
        )
