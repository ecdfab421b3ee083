"""`vetchart kb ingest` and `vetchart kb query`: the knowledge base from the command line.

Ingestion runs here, synchronously, through the same service code as the worker's job
(no worker needed); a file already ingested with the same content is left alone, a
changed one replaces its document's chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vetchart import bootstrap
from vetchart.config import Settings
from vetchart.domain.errors import DomainError
from vetchart.domain.kb.documents import DocumentState
from vetchart.domain.kb.labels import LabelFilter
from vetchart.domain.uploads import UploadKind
from vetchart.services.kb_answers import KbAnswer

DOCUMENT_SUFFIXES: Final = frozenset({".md", ".markdown", ".txt", ".pdf"})


def document_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the documents (by suffix) found under the folders named."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for item in sorted(path.rglob("*")):
                if item.is_file() and item.suffix.lower() in DOCUMENT_SUFFIXES:
                    found.setdefault(item, None)
        else:
            found.setdefault(path, None)
    return list(found)


@dataclass(frozen=True)
class IngestLine:
    path: Path
    action: str
    state: str
    chunks: int
    note: str


async def _ready(container: bootstrap.Container) -> None:
    checks = await container.readiness.check()
    failing = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    if failing:
        raise SystemExit(f"vetchart: run 'vetchart db upgrade' first ({'; '.join(failing)})")


async def ingest(
    settings: Settings, database_url: str, paths: Iterable[Path], console: Console
) -> list[IngestLine]:
    files = document_files(paths)
    container = await bootstrap.build_container(settings, database_url=database_url)
    lines: list[IngestLine] = []
    try:
        await _ready(container)
        limit = container.upload_limits.for_kind(UploadKind.KB_DOCUMENT)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for path in files:
                progress.update(task, description=f"ingesting {path.name}")
                lines.append(await _ingest_one(container, path, limit))
                progress.advance(task)
    finally:
        await container.aclose()
    return lines


async def _ingest_one(container: bootstrap.Container, path: Path, limit: int) -> IngestLine:
    try:
        if (await asyncio.to_thread(path.stat)).st_size > limit:
            return IngestLine(path, "refused", "-", 0, f"larger than {limit} bytes")
        data = await asyncio.to_thread(path.read_bytes)
        outcome = await container.kb_documents.ingest_bytes(data, path.name)
    except (OSError, DomainError) as error:
        detail = error.detail if isinstance(error, DomainError) else str(error)
        return IngestLine(path, "refused", "-", 0, detail)
    document = outcome.document
    return IngestLine(
        path, outcome.action, document.state.value, document.chunk_count, document.error or ""
    )


def print_ingest(lines: list[IngestLine], console: Console) -> bool:
    """The table of results; True when every file ended ingested."""
    table = Table("file", "action", "state", "chunks", "note")
    for line in lines:
        table.add_row(str(line.path), line.action, line.state, str(line.chunks), line.note)
    console.print(table if lines else "no documents found")
    return all(line.state == DocumentState.INGESTED.value for line in lines)


async def ask(
    settings: Settings,
    database_url: str,
    question: str,
    *,
    filters: LabelFilter,
    max_sources: int,
) -> KbAnswer:
    container = await bootstrap.build_container(settings, database_url=database_url)
    try:
        await _ready(container)
        return await container.kb_answers.ask(
            None, question, filters=filters, max_sources=max_sources
        )
    finally:
        await container.aclose()


def print_answer(answer: KbAnswer, console: Console) -> None:
    console.print(answer.answer, highlight=False)
    console.print()
    table = Table("n", "title", "chunk", "score", "source")
    for source in answer.sources:
        table.add_row(
            str(source.n),
            source.title,
            str(source.chunk_index),
            f"{source.score:.4f}",
            source.source_url or "",
        )
    console.print(table if answer.sources else "no sources found")
    mode = f"{answer.mode}{' (degraded)' if answer.degraded else ''}"
    console.print(f"mode: {mode}; {answer.timings_ms['total']:.0f} ms", style="dim")
