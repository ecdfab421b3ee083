"""Fake OpenAI and Pinecone servers on loopback, one per module, reset for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.ai.fake_servers import FakeService, openai_app, pinecone_app, serve


@pytest.fixture(scope="module")
def openai_server() -> Iterator[tuple[FakeService, str]]:
    service = FakeService()
    with serve(openai_app(service)) as url:
        yield service, f"{url}/v1"


@pytest.fixture(scope="module")
def pinecone_server() -> Iterator[tuple[FakeService, str]]:
    service = FakeService()
    with serve(pinecone_app(service)) as url:
        yield service, url
