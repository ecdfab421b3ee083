"""Which methods a path allows, across every route (for 405 answers' ``Allow`` header).

Starlette answers a method mismatch from the first route whose path matches, so a path
served by two routes (GET and PATCH) would advertise only one. The full list is computed
once per app from its route table (the OpenAPI paths) and cached.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import compile_path

_CACHE_KEY = "allowed_methods_table"
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _table(app: Any) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, _CACHE_KEY, None
    )
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            methods = {m.upper() for m in operations if m.upper() in _HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            regex, _, _ = compile_path(template)
            table.append((regex, frozenset(methods)))
        setattr(app.state, _CACHE_KEY, table)
    return table


def allowed_methods(app: Any, path: str) -> list[str]:
    """The methods of every route matching ``path``, in a stable order."""
    found: set[str] = set()
    for regex, methods in _table(app):
        if regex.match(path):
            found |= methods
    return [m for m in _HTTP_METHODS if m in found]
