"""Session revocations heard by every process at once: Redis pub/sub (when REDIS_URL is set).

A revoking commit's ``SessionsChanged`` event (services/invalidation.py) is published on
``<VETCHART_REDIS_PREFIX>:sessions``; every process (API and worker) listens there and
forgets the named sessions from its principal cache, so a revoked token is refused by
every process within the time a message takes (milliseconds), not the cache's TTL.

While a process is not subscribed (starting up, Redis away, reconnecting) it could miss a
revocation, so its principal cache is suspended: every request then reads its session from
the database. Reconnection backs off exponentially with jitter (tenacity) up to
``max_backoff_seconds``; once subscribed again the cache resumes empty.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from contextlib import suppress
from uuid import UUID

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from vetchart.adapters.security.cache import TtlPrincipalCache

log = structlog.get_logger(__name__)

_REDIS_TROUBLE = (RedisError, OSError)


class RedisSessionBroadcast:
    """Publishes revocations and, once ``start()``ed, evicts what the others publish."""

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        cache: TtlPrincipalCache,
        max_backoff_seconds: float = 5.0,
        listen_timeout_seconds: float = 1.0,
    ) -> None:
        self._publisher: Redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        # No read timeout on the subscription (it waits for messages); a dead connection
        # is found by the periodic PING of health_check_interval.
        self._subscriber: Redis = Redis.from_url(
            url, socket_connect_timeout=0.5, health_check_interval=2
        )
        self._channel = channel
        self._cache = cache
        self._max_backoff = max_backoff_seconds
        self._listen_timeout = listen_timeout_seconds
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        cache.suspend()

    async def publish(self, session_ids: Sequence[UUID]) -> None:
        if not session_ids:
            return
        message = json.dumps([str(s) for s in session_ids])
        try:
            await self._publisher.publish(self._channel, message)
        except _REDIS_TROUBLE as error:
            # The other processes that still listen forget within the cache's TTL (2 s at
            # most); those that lost Redis too are suspended and read the database.
            log.warning("sessions.broadcast_failed", error=type(error).__name__)

    def start(self) -> None:
        """Listen in the background (the running event loop) until ``aclose()``."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="vetchart-session-broadcast"
            )

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._publisher.aclose()
        await self._subscriber.aclose()

    async def _run(self) -> None:
        while True:
            pubsub = await self._subscribe()
            self._cache.resume()
            self.subscribed.set()
            log.info("sessions.broadcast_subscribed", channel=self._channel)
            unexpected = False
            try:
                await self._listen(pubsub)
            except _REDIS_TROUBLE as error:
                log.warning("sessions.broadcast_lost", error=type(error).__name__)
            except Exception:
                log.exception("sessions.broadcast_failed")
                unexpected = True
            finally:
                self.subscribed.clear()
                self._cache.suspend()
                with suppress(*_REDIS_TROUBLE):
                    await pubsub.aclose()
            if unexpected:  # not a hot loop on a bug that recurs (suspended meanwhile)
                await asyncio.sleep(self._max_backoff)

    async def _subscribe(self) -> PubSub:
        """Subscribed, after as many tries as it takes (backing off between them)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_REDIS_TROUBLE),
            wait=wait_exponential_jitter(multiplier=0.05, max=self._max_backoff),
            reraise=True,
        ):
            with attempt:
                pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(self._channel)
                except BaseException:
                    with suppress(*_REDIS_TROUBLE):
                        await pubsub.aclose()
                    raise
                return pubsub
        raise AssertionError("unreachable: tenacity retries until subscribed")  # pragma: no cover

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=self._listen_timeout)
            if message is None or message.get("type") != "message":
                continue
            try:
                ids = [UUID(str(item)) for item in json.loads(message["data"])]
            except Exception as error:
                # (not JSON, not a list, nested deeper than the parser's recursion limit, ...)
                log.warning("sessions.broadcast_unreadable", error=type(error).__name__)
                continue
            self._cache.invalidate(ids)
