"""Local stand-ins for OpenAI and Pinecone, served by uvicorn in a thread on 127.0.0.1.

They speak just enough of each API for the official SDKs: OpenAI ``POST
/v1/embeddings`` and ``POST /v1/chat/completions``; Pinecone's data plane ``POST
/vectors/upsert``, ``POST /query`` and ``POST /vectors/delete``. Every request is
recorded; a ``Behaviour`` makes them slow or failing on demand.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Behaviour:
    """What the next requests get: ``failures`` error responses with ``status`` (-1 for
    every request), each after ``delay`` seconds."""

    delay: float = 0.0
    failures: int = 0
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeService:
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[Recorded] = field(default_factory=list)
    chat_content: str = "Parvo spreads in faeces [1]."
    dimensions: int = 8
    vectors: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.requests.clear()
        self.chat_content = "Parvo spreads in faeces [1]."
        self.vectors.clear()
        self.dimensions = 8

    def count(self, path: str) -> int:
        return sum(1 for request in self.requests if request.path == path)

    async def intercept(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        body = await request.json()
        self.requests.append(Recorded(request.url.path, body, dict(request.headers)))
        behaviour = self.behaviour
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.failures != 0:
            if behaviour.failures > 0:
                behaviour.failures -= 1
            error = {"error": {"message": "simulated failure", "type": "server_error"}}
            return body, JSONResponse(error, behaviour.status, headers=behaviour.headers)
        return body, None


def fake_vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 128) / 128 for i in range(dimensions)]


def openai_app(service: FakeService) -> Starlette:
    async def embeddings(request: Request) -> Response:
        body, failure = await service.intercept(request)
        if failure is not None:
            return failure
        if request.headers.get("authorization") != "Bearer test-key":
            return JSONResponse({"error": {"message": "bad key"}}, 401)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dimensions = body.get("dimensions", service.dimensions)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(text, dimensions)}
            for i, text in reversed(list(enumerate(inputs)))  # out of order on purpose
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        )

    async def chat(request: Request) -> Response:
        body, failure = await service.intercept(request)
        if failure is not None:
            return failure
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": service.chat_content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    return Starlette(
        routes=[
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


def _passes(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    for key, test in condition.items():
        if key == "$and":
            if not all(_passes(metadata, part) for part in test):
                return False
            continue
        value = metadata.get(key)
        values = value if isinstance(value, list) else [value]
        for operator, operand in test.items():
            if operator == "$eq" and operand not in values:
                return False
            if operator == "$in" and not set(values) & set(operand):
                return False
    return True


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def pinecone_app(service: FakeService) -> Starlette:
    def authorized(request: Request) -> bool:
        return request.headers.get("api-key") == "pc-test-key"

    async def upsert(request: Request) -> Response:
        body, failure = await service.intercept(request)
        if failure is not None:
            return failure
        if not authorized(request):
            return JSONResponse({"code": 16, "message": "Invalid API Key"}, 401)
        space = service.vectors.setdefault(body.get("namespace", ""), {})
        for vector in body["vectors"]:
            space[vector["id"]] = vector
        return JSONResponse({"upsertedCount": len(body["vectors"])})

    async def query(request: Request) -> Response:
        body, failure = await service.intercept(request)
        if failure is not None:
            return failure
        space = service.vectors.get(body.get("namespace", ""), {})
        condition = body.get("filter") or {}
        scored = sorted(
            (
                (_cosine(body["vector"], vector["values"]), vector_id)
                for vector_id, vector in space.items()
                if _passes(vector.get("metadata", {}), condition)
            ),
            reverse=True,
        )[: body["topK"]]
        matches = [{"id": vector_id, "score": score, "values": []} for score, vector_id in scored]
        return JSONResponse(
            {"matches": matches, "namespace": body.get("namespace", ""), "usage": {"readUnits": 1}}
        )

    async def delete(request: Request) -> Response:
        body, failure = await service.intercept(request)
        if failure is not None:
            return failure
        space = service.vectors.get(body.get("namespace", ""), {})
        condition = body.get("filter") or {}
        for vector_id in [i for i, v in space.items() if _passes(v.get("metadata", {}), condition)]:
            del space[vector_id]
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/vectors/upsert", upsert, methods=["POST"]),
            Route("/query", query, methods=["POST"]),
            Route("/vectors/delete", delete, methods=["POST"]),
        ]
    )


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
