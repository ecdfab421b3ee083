"""Sending one webhook try: Standard Webhooks signatures (the ``standardwebhooks``
reference library) over an HTTP POST (httpx) that can only reach allowed addresses.

SSRF: the target's name is resolved here, every address it resolves to must be allowed
(``domain.webhooks.address_allowed``: public unicast only, unless private targets are
allowed by a setting), and the connection goes to the address that was checked — the URL
is rewritten to it, with the Host header and the TLS server name (SNI, and so the
certificate check) still the original name. A DNS answer that changes between the check
and the connection therefore cannot move the request (no rebinding window). Redirects are
never followed, and the answer's body is never read (only its status).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from standardwebhooks.webhooks import Webhook

from vetchart.domain.webhooks import AttemptResult, address_allowed
from vetchart.services.ports.webhooks import SignedRequest

log = structlog.get_logger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = "vetchart-webhooks/1"
_MAX_ERROR = 300


class HttpWebhookSender:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        allow_private: bool,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, trust_env=False
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def sign(
        self, *, secret: str, message_id: str, timestamp: datetime, body: bytes, url: str
    ) -> SignedRequest:
        signature = Webhook(secret).sign(message_id, timestamp.astimezone(UTC), body.decode())
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        return SignedRequest(url=url, body=body, headers=headers)

    async def send(self, request: SignedRequest) -> AttemptResult:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(self._timeout):  # a slow resolver is a failed try
                addresses = await self._resolve(host, port)
        except TimeoutError:
            return AttemptResult(error=f"cannot resolve {host} within {self._timeout:g} s")
        except OSError as error:
            return AttemptResult(error=_short(f"cannot resolve {host}: {error}"))
        refused = [
            a for a in addresses if not address_allowed(a, allow_private=self._allow_private)
        ]
        if refused or not addresses:
            log.warning("webhook.target_refused", host=host, addresses=[str(a) for a in refused])
            return AttemptResult(
                allowed=False,
                error=f"{host} resolves to an address deliveries may not reach ({refused[0]})"
                if refused
                else f"{host} resolves to no address",
            )
        headers = {**request.headers, "host": _host_header(parts.scheme, host, parts.port)}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        failure: httpx.HTTPError | None = None
        try:
            async with asyncio.timeout(self._timeout):
                # Every address was checked; the first that takes the connection gets the
                # request (a name with IPv6 and IPv4 addresses, one of them unreachable).
                for target in addresses:
                    literal = f"[{target}]" if target.version == 6 else str(target)
                    netloc = f"{literal}:{port}"
                    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
                    try:
                        async with self._client.stream(
                            "POST",
                            pinned,
                            content=request.body,
                            headers=headers,
                            extensions=extensions,
                        ) as response:
                            return AttemptResult(status_code=response.status_code)
                    except httpx.ConnectError as unreachable:
                        failure = unreachable
                    except httpx.HTTPError as failed:
                        failure = failed
                        break
        except TimeoutError:
            return AttemptResult(error=f"no answer within {self._timeout:g} s")
        if failure is None:  # no address: refused above, never here
            return AttemptResult(error=f"{host} resolves to no address")
        return AttemptResult(error=_short(f"{type(failure).__name__}: {failure}"))

    async def _resolve(self, host: str, port: int) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        seen: list[Address] = []
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if address not in seen:
                seen.append(address)
        return seen


def _host_header(scheme: str, host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return name if port in (None, default) else f"{name}:{port}"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"
