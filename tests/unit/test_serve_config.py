"""`vetchart serve`'s uvicorn configuration and the slow-client limits (issue 13, item 8).

The attacks replayed against a real uvicorn server on a local socket: slow-loris (a
request head sent a byte at a time, or never finished; a body that stalls), a connection
that sends nothing, and an oversized request head.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from vetchart.config import ServerSettings
from vetchart.entrypoints.cli import uvicorn_config
from vetchart.entrypoints.http_limits import LimitedHttpToolsProtocol

# --------------------------------------------------------------------------- the builder


def test_the_settings_reach_uvicorn() -> None:
    server = ServerSettings(
        header_timeout_seconds=7.5,
        body_idle_timeout_seconds=12.0,
        max_header_bytes=8192,
        keep_alive_seconds=3,
        limit_concurrency=250,
        graceful_shutdown_seconds=4,
        trusted_proxies=["10.0.0.1", "10.0.0.2"],
    )
    config = uvicorn_config(object(), server, host="0.0.0.0", port=8123)  # noqa: S104

    assert (config.host, config.port) == ("0.0.0.0", 8123)  # noqa: S104
    assert config.timeout_keep_alive == 3
    assert config.h11_max_incomplete_event_size == 8192
    assert config.limit_concurrency == 250
    assert config.timeout_graceful_shutdown == 4
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == "10.0.0.1,10.0.0.2"
    protocol = config.http
    assert isinstance(protocol, type)
    assert issubclass(protocol, LimitedHttpToolsProtocol)
    assert protocol.head_timeout == 7.5
    assert protocol.body_idle_timeout == 12.0
    assert protocol.max_head_bytes == 8192
    # Each configuration has its own class: another one does not change this one.
    other = uvicorn_config(object(), ServerSettings(), host="127.0.0.1", port=1).http
    assert isinstance(other, type)
    assert issubclass(other, LimitedHttpToolsProtocol)
    assert other.head_timeout == 10.0
    assert protocol.head_timeout == 7.5


def test_the_defaults() -> None:
    server = ServerSettings()
    assert server.header_timeout_seconds == 10.0
    assert server.body_idle_timeout_seconds == 30.0
    assert server.max_header_bytes == 16 * 1024
    assert server.keep_alive_seconds == 5
    assert server.limit_concurrency == 1000
    config = uvicorn_config(object(), server, host="127.0.0.1", port=8000)
    assert config.proxy_headers is False


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETCHART_HEADER_TIMEOUT_SECONDS", "4")
    monkeypatch.setenv("VETCHART_BODY_IDLE_TIMEOUT_SECONDS", "9")
    monkeypatch.setenv("VETCHART_MAX_HEADER_BYTES", "4096")
    monkeypatch.setenv("VETCHART_KEEP_ALIVE_SECONDS", "2")
    monkeypatch.setenv("VETCHART_LIMIT_CONCURRENCY", "64")
    server = ServerSettings()
    assert (
        server.header_timeout_seconds,
        server.body_idle_timeout_seconds,
        server.max_header_bytes,
        server.keep_alive_seconds,
        server.limit_concurrency,
    ) == (4.0, 9.0, 4096, 2, 64)


# --------------------------------------------------------------------------- a live server

HEAD_TIMEOUT = 0.4
BODY_IDLE = 0.6
MAX_HEAD = 4096


class EchoApp:
    """Reads the whole body and answers its length; notes disconnects."""

    def __init__(self) -> None:
        self.requests = 0
        self.disconnects = 0
        self.disconnected = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.requests += 1
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                self.disconnected.set()
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = str(size).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def running(app: EchoApp) -> AsyncIterator[int]:
    server_settings = ServerSettings(
        header_timeout_seconds=HEAD_TIMEOUT,
        body_idle_timeout_seconds=BODY_IDLE,
        max_header_bytes=MAX_HEAD,
        keep_alive_seconds=5,
        graceful_shutdown_seconds=1,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(app, server_settings, host="127.0.0.1", port=port)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing; fails if it is still open after ``seconds``."""
    received = b""
    async with asyncio.timeout(seconds):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def test_a_normal_request_and_a_slow_but_steady_body_are_served() -> None:
    app = EchoApp()
    async with running(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"
        )
        # Eight bytes over ~1.2 s: longer than the idle timeout in total, never idle that long.
        for _ in range(8):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(BODY_IDLE / 4)
        answer = await closed_within(reader, 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(b"\r\n\r\n8")


async def test_a_head_sent_slowly_is_cut_off() -> None:
    app = EchoApp()
    async with running(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
        with contextlib.suppress(ConnectionError):
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.02)
                if reader.at_eof():
                    break
        answer = await closed_within(reader, 5)
        elapsed = loop.time() - started
        writer.close()
    assert answer == b""
    assert HEAD_TIMEOUT * 0.9 <= elapsed < HEAD_TIMEOUT + 3
    assert app.requests == 0


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    app = EchoApp()
    async with running(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_within(reader, HEAD_TIMEOUT + 1.5) == b""
        writer.close()
    assert app.requests == 0


async def test_a_stalled_body_is_cut_off_and_the_app_sees_a_disconnect() -> None:
    app = EchoApp()
    async with running(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        answer = await closed_within(reader, BODY_IDLE + 1.5)
        writer.close()
        async with asyncio.timeout(5):
            await app.disconnected.wait()
    assert answer == b""
    assert (app.requests, app.disconnects) == (1, 1)


@pytest.mark.parametrize("whole", [True, False], ids=["at once", "unfinished"])
async def test_an_oversized_head_is_refused_with_431(whole: bool) -> None:
    app = EchoApp()
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * (MAX_HEAD * 2)
    async with running(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + (b"\r\n\r\n" if whole else b""))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        answer = await closed_within(reader, 5)  # a 431 is the size limit, not the deadline
        writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert app.requests == 0


async def test_a_kept_alive_connection_gets_a_fresh_head_deadline() -> None:
    app = EchoApp()
    async with running(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for pause in (0.0, HEAD_TIMEOUT * 1.5):
            # Idle between requests for longer than the head deadline (keep-alive is 5 s).
            await asyncio.sleep(pause)
            writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            await writer.drain()
            async with asyncio.timeout(5):
                answer = await reader.readuntil(b"\r\n\r\n0")
            assert answer.startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\n")  # ...and then a head that never ends
        await writer.drain()
        assert await closed_within(reader, HEAD_TIMEOUT + 1.5) == b""
        writer.close()
    assert app.requests == 2


# --------------------------------------------------------------------------- SIGTERM

_SERVE_SCRIPT = """
import contextlib, socket, sys

from vetchart.config import ServerSettings
from vetchart.entrypoints.cli import run_server, uvicorn_config


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


@contextlib.contextmanager
def embedded_database():  # stands for entrypoints.runtime.database_url
    try:
        yield
    finally:
        print("database stopped", flush=True)


with embedded_database():
    run_server(uvicorn_config(app, ServerSettings(), host="127.0.0.1", port=int(sys.argv[1])))
print("unreachable after SystemExit", flush=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_unwinds_serve_so_the_embedded_database_stops() -> None:
    """The bug replayed: uvicorn re-raised SIGTERM with the default handler after its
    graceful stop, killing the process before the embedded PostgreSQL was stopped."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _SERVE_SCRIPT, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the server did not start")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, (process.returncode, out, err)
    assert out.splitlines()[-1] == "database stopped", (out, err)
    assert "unreachable" not in out
