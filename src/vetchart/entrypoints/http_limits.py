"""Deadlines and size limits for the HTTP connection itself (slow-loris defences).

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and, with ``h11``, the
size of a request head (``h11_max_incomplete_event_size``), but nothing else: with the
httptools parser (the one ``uvicorn[standard]`` runs) a client can hold a connection open
forever by sending its request head, or its body, a byte at a time, and send a head of
any size. ``limited_httptools`` returns uvicorn's httptools protocol with:

- a **head deadline**: the request line and headers must be complete within
  ``head_timeout`` seconds of the connection opening (or of the first byte of the next
  request on a kept-alive connection); else the connection is closed;
- a **body idle timeout**: while a body is arriving, at most ``body_idle_timeout``
  seconds may pass without a byte (not counted while the server itself has paused reading
  because the application is slow to consume); else the connection is closed, which the
  application sees as a client disconnect;
- a **head size limit**: more than ``max_head_bytes`` before the head is complete is
  answered ``431`` and the connection closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = structlog.get_logger(__name__)

_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n\r\n"
    b"Request header fields too large"
)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with the deadlines above (set by ``limited_httptools``)."""

    head_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_head_bytes: int = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0  # bytes received while a head is incomplete
        self._field_bytes = 0  # the parsed head's URL, names and values
        self._refused = False

    # ----------------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._arm_head_timer()  # the first byte of a kept-alive connection's next request
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse_head()

    # ----------------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._field_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._field_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel(self._head_timer)
        self._head_timer = None
        if self._field_bytes > self.max_head_bytes:
            # A whole head that arrived at once: refused before the application sees it.
            self._refuse_head()
            return
        super().on_headers_complete()
        self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._cancel(self._body_timer)
        self._body_timer = None
        self._in_head = True

    # ----------------------------------------------------------------------- timers

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired)

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.body_idle_timeout, self._body_idle)

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            log.info("http.head_timeout", client=_client(self.client), seconds=self.head_timeout)
            self.transport.close()

    def _body_idle(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The server stopped reading (the application is behind): not the client's doing.
            self._arm_body_timer()
            return
        log.info(
            "http.body_idle_timeout", client=_client(self.client), seconds=self.body_idle_timeout
        )
        self.transport.close()

    def _refuse_head(self) -> None:
        self._refused = True
        self._cancel_timers()
        log.info("http.head_too_large", client=_client(self.client), limit=self.max_head_bytes)
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def _client(client: tuple[str, int] | None) -> str | None:
    return f"{client[0]}:{client[1]}" if client else None


def limited_httptools(
    *, head_timeout: float, body_idle_timeout: float, max_head_bytes: int
) -> type[LimitedHttpToolsProtocol]:
    """uvicorn's httptools protocol with these limits (a class, as ``uvicorn.Config(http=)``
    takes one)."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {
            "head_timeout": head_timeout,
            "body_idle_timeout": body_idle_timeout,
            "max_head_bytes": max_head_bytes,
        },
    )
