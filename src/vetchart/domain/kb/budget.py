"""The ingestion budget: per-document caps on characters, pages, chunks and wall time
(``IngestBudget``), and the error a document past one of them fails with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from vetchart.domain.errors import RuleViolation

# Per-document caps of ingestion (the settings VETCHART_KB_MAX_* override them). A
# document past one of them ends ``failed``: the outcome is the same on every attempt.
DEFAULT_MAX_EXTRACTED_CHARS: Final = 1_000_000
DEFAULT_MAX_PAGES: Final = 500
DEFAULT_MAX_CHUNKS: Final = 2_000
DEFAULT_MAX_INGEST_SECONDS: Final = 120.0

BudgetCap = Literal["characters", "pages", "chunks", "seconds"]


class IngestBudgetExceeded(RuleViolation):
    """A document is past one of its ingestion caps; ``cap`` names which, ``limit`` its
    value. Deterministic for characters, pages and chunks; not worth retrying for time."""

    def __init__(self, cap: BudgetCap, limit: float) -> None:
        shown = f"{limit:g}"
        detail = (
            f"ingestion took more than {shown} seconds"
            if cap == "seconds"
            else f"the document has more than {shown} {cap}"
        )
        super().__init__(
            detail,
            rule="kb.ingest_budget_exceeded",
            field="file",
            extra={"cap": cap, "limit": limit},
        )
        self.cap: BudgetCap = cap
        self.limit = limit


@dataclass(frozen=True)
class IngestBudget:
    """The caps of one document's ingestion: characters of text read from the file
    (before cleaning), PDF pages, chunks, and wall time from start to the indexed chunks."""

    max_extracted_chars: int = DEFAULT_MAX_EXTRACTED_CHARS
    max_pages: int = DEFAULT_MAX_PAGES
    max_chunks: int = DEFAULT_MAX_CHUNKS
    max_seconds: float = DEFAULT_MAX_INGEST_SECONDS

    def __post_init__(self) -> None:
        if min(self.max_extracted_chars, self.max_pages, self.max_chunks) < 1:
            raise ValueError("ingestion caps must be at least 1")
        if self.max_seconds <= 0:
            raise ValueError("the ingestion time cap must be positive")

    def check_chars(self, count: int) -> None:
        if count > self.max_extracted_chars:
            raise IngestBudgetExceeded("characters", self.max_extracted_chars)

    def check_pages(self, count: int) -> None:
        if count > self.max_pages:
            raise IngestBudgetExceeded("pages", self.max_pages)

    def deadline(self, monotonic: Callable[[], float]) -> Callable[[], None]:
        """A check that raises once ``max_seconds`` have passed since this call, by
        ``monotonic`` (``time.monotonic`` in production, a fake in tests)."""
        ends = monotonic() + self.max_seconds

        def check() -> None:
            if monotonic() > ends:
                raise IngestBudgetExceeded("seconds", self.max_seconds)

        return check
