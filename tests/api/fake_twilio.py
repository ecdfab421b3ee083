"""A local server that speaks the part of Twilio's Messages API vetchart uses:
``POST /2010-04-01/Accounts/{sid}/Messages.json`` with HTTP basic auth and a form body
(To, From, Body), answering 201 with the message's ``sid``. On loopback only, in a
thread; it can be told to fail the next requests (500), and it refuses to serve more
than ``max_requests`` (a runaway retry loop fails the test instead of spinning)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "test-auth-token"
SENDER = "+15005550006"


@dataclass
class Received:
    path: str
    username: str
    password: str
    form: dict[str, str]
    status: int


@dataclass
class FakeTwilio:
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0
    max_requests: int = 50
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def delivered(self) -> list[Received]:
        """The messages Twilio accepted (201)."""
        return [request for request in self.requests if request.status == 201]


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
            user, _, password = (
                base64.b64decode(encoded).decode().partition(":")
                if scheme == "Basic"
                else ("", "", "")
            )
            expected = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            if len(fake.requests) >= fake.max_requests:
                status, body = 429, {"message": "too many requests in this test"}
            elif self.path != expected:
                status, body = 404, {"message": "not found"}
            elif (user, password) != (ACCOUNT_SID, AUTH_TOKEN):
                status, body = 401, {"message": "authenticate"}
            elif fake.fail_next > 0:
                fake.fail_next -= 1
                status, body = 500, {"message": "internal error"}
            else:
                status = 201
                body = {"sid": f"SM{next(fake._ids):032d}", "status": "queued", **form}
            fake.requests.append(Received(self.path, user, password, form, status))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
