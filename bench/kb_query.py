"""Knowledge-base question latency, extractive mode, on the demo reference set.

Against a real `vetchart serve` process (embedded PostgreSQL in a fresh data folder, the
demo data including the 12 demo reference documents, no AI service configured), one
client signed in as the demo pet owner asks the 20 questions of `tests/kb_questions.py`
in turn, round after round, after a warm-up round. Prints p50/p95/max of the request
latency seen by the client, the server's own `timings_ms.total`, and the retrieval hit
rate (expected document in the top 3 sources).

Bounded: a fixed number of requests, loopback only. Usage: `python -m bench.kb_query`.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from tests.kb_questions import KB_QUESTIONS, TOP_K

from bench.server import demo_server, percentile
from vetchart.demo_kb import demo_documents
from vetchart.domain.kb.front_matter import parse_front_matter
from vetchart.services.demo import DEMO_PASSWORD

ROUNDS = 10
USER = "owner@vetchart.local"
API = "/api/v1"


async def _run(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            f"{API}/auth/token", data={"username": USER, "password": DEMO_PASSWORD}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        documents = await client.get(f"{API}/kb/documents", headers=headers)
        documents.raise_for_status()
        titles = {item["id"]: item for item in documents.json()["items"]}
        if len(titles) != 12 or any(d["state"] != "ingested" for d in titles.values()):
            raise SystemExit("the demo reference documents are not all ingested")

        async def ask(question: str) -> tuple[float, dict[str, object]]:
            started = time.perf_counter()
            answer = await client.post(
                f"{API}/kb/query", json={"question": question}, headers=headers
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            return elapsed_ms, answer.json()

        for item in KB_QUESTIONS:  # warm-up round
            await ask(item.question)
        latencies: list[float] = []
        server_ms: list[float] = []
        hits = 0
        for round_number in range(ROUNDS):
            for item in KB_QUESTIONS:
                elapsed_ms, body = await ask(item.question)
                latencies.append(elapsed_ms)
                timings = body["timings_ms"]
                assert isinstance(timings, dict)
                server_ms.append(float(timings["total"]))
                if body["mode"] != "extractive" or body["degraded"]:
                    raise SystemExit(f"unexpected answer mode: {body['mode']}")
                if round_number == 0:
                    sources = body["sources"]
                    assert isinstance(sources, list)
                    filenames = [
                        titles[source["document_id"]]["title"] for source in sources[:TOP_K]
                    ]
                    expected = item.expected_document
                    hits += any(_same_document(expected, title) for title in filenames)
    return {
        "requests": float(len(latencies)),
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
        "max_ms": max(latencies),
        "server_p50_ms": statistics.median(server_ms),
        "server_p95_ms": percentile(server_ms, 0.95),
        "hits": float(hits),
    }


def _same_document(filename: str, title: str) -> bool:
    """The API shows titles, not file names: the demo documents' titles by file name."""
    titles = {doc.filename: parse_front_matter(doc.text).title for doc in demo_documents()}
    return (titles.get(filename) or "").lower() == title.lower()


def main() -> None:
    with demo_server() as base:
        results = asyncio.run(_run(base))
    print(
        f"POST /api/v1/kb/query, extractive, demo set (12 documents): {ROUNDS} rounds of the "
        f"{len(KB_QUESTIONS)} questions, one client, after a warm-up round:"
    )
    print(
        f"  {results['requests']:.0f} requests: latency p50 {results['p50_ms']:.1f} ms, "
        f"p95 {results['p95_ms']:.1f} ms, max {results['max_ms']:.1f} ms "
        f"(server timings_ms.total p50 {results['server_p50_ms']:.1f} ms, "
        f"p95 {results['server_p95_ms']:.1f} ms); "
        f"expected document in the top {TOP_K}: {results['hits']:.0f}/{len(KB_QUESTIONS)}"
    )


if __name__ == "__main__":
    main()
