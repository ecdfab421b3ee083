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


class Locked(DomainError):
    code = "locked"
    title = "Locked"

    def __init__(self, detail: str, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class TooManyRequests(DomainError):
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """A dependency (database, storage, an outside service) cannot serve right now."""

    code = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds
