"""A TCP front of the test database server that can drop or refuse connections, for
tests of lost connections and of a database that comes and goes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url


class _Link:
    """One proxied connection: the client's side and the server's."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.poisoned = False

    def abort(self) -> None:
        self.client.transport.abort()
        self.server.transport.abort()


@dataclass
class DatabaseProxy:
    """A TCP front of the test database server (its Unix socket or TCP address).

    ``poison()``: every open connection is dropped (both sides aborted, nothing forwarded)
    the next time its client sends anything — a connection lost at the moment it is used,
    which the client cannot notice when taking it from its pool. ``stop()``: every
    connection is dropped and new ones are refused (the database is unreachable)."""

    url: str
    dropped: int = 0
    # While true, new connections are refused (closed at once): the database is down.
    refusing: bool = False
    _links: set[_Link] = field(default_factory=set)
    _server: asyncio.Server | None = None

    async def start(self) -> str:
        """Start listening; the SQLAlchemy URL of the same database through the proxy."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        parsed = make_url(self.url).difference_update_query(["host"])
        return parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parsed = make_url(self.url)
        socket_dir = parsed.query.get("host")
        if isinstance(socket_dir, tuple):
            socket_dir = socket_dir[0]
        port = parsed.port or 5432
        if socket_dir:
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(parsed.host or "127.0.0.1", port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await self._upstream()
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, link, from_client=True),
                self._pump(up_reader, writer, link, from_client=False),
                return_exceptions=True,
            )
        finally:
            self._links.discard(link)
            link.abort()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        from_client: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if from_client and link.poisoned:
                    self.dropped += 1
                    return
                writer.write(data)
                await writer.drain()
        finally:
            link.abort()

    def poison(self) -> int:
        for link in self._links:
            link.poisoned = True
        return len(self._links)

    def cut(self) -> int:
        """Drop every open connection now and refuse new ones until ``refusing`` is reset:
        the server is away (and ``refusing = False`` brings it back on the same port)."""
        self.refusing = True
        links = list(self._links)
        for link in links:
            link.abort()
        return len(links)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for link in list(self._links):
            link.abort()
        await asyncio.sleep(0.05)
