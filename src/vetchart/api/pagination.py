"""Keyset pagination: one small mechanism for every list.

A cursor is opaque to clients: the last row's sort key, the list it belongs to and a
fingerprint of the list's filters, signed with HMAC-SHA256. A forged or altered cursor,
or one taken from another list or other filters, is refused with 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from vetchart.api.presenters.encoding import list_response
from vetchart.api.schemas.common import ListResponse
from vetchart.domain.errors import InvalidCursor
from vetchart.services.ports.paging import Page, PageRequest, Row

T = TypeVar("T")
M = TypeVar("M")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

LimitQuery = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})."),
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=2048, description="Opaque cursor from the previous page's next_cursor."),
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fingerprint(list_name: str, filters: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"list": list_name, "filters": {k: filters[k] for k in sorted(filters)}},
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = hashlib.sha256(b"vetchart-cursor:" + secret).digest()

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._secret, payload, hashlib.sha256).digest()[:16])

    def encode(self, list_name: str, filters: Mapping[str, Any], key: Sequence[Any]) -> str:
        payload = json.dumps(
            {"f": _fingerprint(list_name, filters), "k": [str(v) for v in key]},
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def decode(
        self, cursor: str | None, list_name: str, filters: Mapping[str, Any]
    ) -> list[str] | None:
        if cursor is None:
            return None
        try:
            body, signature = cursor.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(signature, self._sign(payload)):
                raise InvalidCursor
            data = json.loads(payload)
            if data.get("f") != _fingerprint(list_name, filters):
                raise InvalidCursor
            key = data["k"]
            if not isinstance(key, list) or not all(isinstance(v, str) for v in key):
                raise InvalidCursor
            return key
        except InvalidCursor:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidCursor from error


KeyParser = Callable[[str], object]


class Paginator:
    """One list's cursor handling: decode the request's cursor into a keyset position,
    and encode the next page's cursor, bound to the list's name and filters."""

    def __init__(
        self,
        request: Request,
        list_name: str,
        filters: Mapping[str, Any],
        key_parsers: Sequence[KeyParser],
    ) -> None:
        self._codec: CursorCodec = request.app.state.cursor_codec
        self._list = list_name
        self._filters = dict(filters)
        self._parsers = tuple(key_parsers)

    def page_request(self, cursor: str | None, limit: int) -> PageRequest:
        key = self._codec.decode(cursor, self._list, self._filters)
        if key is None:
            return PageRequest(limit=limit)
        if len(key) != len(self._parsers):
            raise InvalidCursor
        try:
            after = tuple(parse(value) for parse, value in zip(self._parsers, key, strict=True))
        except ValueError as error:
            raise InvalidCursor from error
        return PageRequest(limit=limit, after=after)

    def next_cursor(self, next_key: Sequence[object] | None) -> str | None:
        if next_key is None:
            return None
        return self._codec.encode(self._list, self._filters, list(next_key))

    def answer(
        self, model: type[ListResponse[M]], page: Page[T], present: Callable[[T], M]
    ) -> ListResponse[M]:
        """The list envelope (``model``: the route's ``ListResponse[...]``) of ``page``,
        each item presented by ``present``, with the next page's cursor."""
        return model(
            items=[present(item) for item in page.items],
            next_cursor=self.next_cursor(page.next_key),
        )

    def answer_rows(
        self, page: Page[Row], present: Callable[[Row], dict[str, Any]], base: Response
    ) -> Response:
        """The same envelope for a page of the fast path's rows, written straight as
        JSON (api/presenters/encoding.py), with ``base``'s headers."""
        return list_response(
            (present(row) for row in page.items), self.next_cursor(page.next_key), base
        )


def parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)
