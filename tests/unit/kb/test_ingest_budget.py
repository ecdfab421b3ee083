"""The ingestion budget of one document: pages counted before any page is read,
characters while extracting, chunks while chunking, wall time by an injected monotonic
clock (no sleeping); just under every cap a document goes through."""

from __future__ import annotations

import pytest
from pypdf import PageObject

from tests.unit.kb.pdf_builder import make_pdf
from vetchart.adapters.text_extract import DocumentTextExtractor, extract_text, pdf_to_text
from vetchart.config import (
    KB_DEFAULT_MAX_CHUNKS,
    KB_DEFAULT_MAX_EXTRACTED_CHARS,
    KB_DEFAULT_MAX_INGEST_SECONDS,
    KB_DEFAULT_MAX_PAGES,
    KbSettings,
)
from vetchart.domain.kb import budget as domain_kb
from vetchart.domain.kb.budget import IngestBudget, IngestBudgetExceeded
from vetchart.domain.kb.chunking import chunk_document

SECTIONS = 6
# Six sections, each far shorter than a chunk: exactly one chunk each.
SECTIONED = "".join(f"# Part {n}\n\nShort text of part {n}.\n\n" for n in range(SECTIONS))


class FakeMonotonic:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_chunking_stops_at_the_first_chunk_past_the_cap() -> None:
    assert len(chunk_document(SECTIONED, max_chunks=SECTIONS)) == SECTIONS
    seen: list[int] = []
    with pytest.raises(IngestBudgetExceeded) as caught:
        chunk_document(SECTIONED, max_chunks=SECTIONS - 1, on_chunk=lambda: seen.append(1))
    assert (caught.value.cap, caught.value.limit) == ("chunks", SECTIONS - 1)
    assert str(caught.value) == f"the document has more than {SECTIONS - 1} chunks"
    assert len(seen) == SECTIONS - 1  # stopped there, the last section never chunked


def test_chunking_stops_inside_one_long_section() -> None:
    long_section = "# Only\n\n" + " ".join(f"Sentence number {n} is here." for n in range(400))
    with pytest.raises(IngestBudgetExceeded):
        chunk_document(long_section, max_chars=200, overlap_chars=0, max_chunks=3)


def test_the_deadline_is_measured_by_the_injected_clock() -> None:
    clock = FakeMonotonic()
    check = IngestBudget(max_seconds=5).deadline(clock)
    clock.now += 5
    check()  # exactly at the limit is still in time
    clock.now += 0.001
    with pytest.raises(IngestBudgetExceeded) as caught:
        check()
    assert caught.value.cap == "seconds"
    assert str(caught.value) == "ingestion took more than 5 seconds"


def test_chunking_calls_the_time_check_after_each_chunk() -> None:
    clock = FakeMonotonic()
    check = IngestBudget(max_seconds=2.5).deadline(clock)

    def slow_chunk() -> None:
        clock.now += 1
        check()

    with pytest.raises(IngestBudgetExceeded) as caught:
        chunk_document(SECTIONED, on_chunk=slow_chunk)
    assert caught.value.cap == "seconds"


def test_pdf_pages_are_counted_before_any_page_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = make_pdf([[f"Page {n} text about dogs."] for n in range(4)])
    assert "Page 3" in pdf_to_text(pdf, budget=IngestBudget(max_pages=4))
    read: list[int] = []
    original = PageObject.extract_text

    def counting(self: PageObject, *args: object, **kwargs: object) -> str:
        read.append(1)
        return original(self)

    monkeypatch.setattr(PageObject, "extract_text", counting)
    with pytest.raises(IngestBudgetExceeded) as caught:
        pdf_to_text(pdf, budget=IngestBudget(max_pages=3))
    assert (caught.value.cap, caught.value.limit) == ("pages", 3)
    assert read == []


def test_pdf_characters_are_counted_page_by_page(monkeypatch: pytest.MonkeyPatch) -> None:
    line = "Dogs with parvovirus need fluids and careful nursing care."
    pdf = make_pdf([[line] for _ in range(5)])
    assert pdf_to_text(pdf, budget=IngestBudget(max_extracted_chars=len(line) * 5 + 10))
    read: list[int] = []
    original = PageObject.extract_text

    def counting(self: PageObject, *args: object, **kwargs: object) -> str:
        read.append(1)
        return original(self)

    monkeypatch.setattr(PageObject, "extract_text", counting)
    with pytest.raises(IngestBudgetExceeded) as caught:
        pdf_to_text(pdf, budget=IngestBudget(max_extracted_chars=len(line) + 10))
    assert caught.value.cap == "characters"
    assert len(read) == 2  # the second page passed the cap; pages three to five unread


def test_pdf_extraction_checks_the_time_after_each_page() -> None:
    clock = FakeMonotonic()
    pdf = make_pdf([[f"Page {n} about cats."] for n in range(5)])
    budget = IngestBudget(max_seconds=2.5)
    check = budget.deadline(clock)
    pages_read: list[int] = []

    def one_second_per_page() -> None:
        pages_read.append(1)
        clock.now += 1
        check()

    with pytest.raises(IngestBudgetExceeded) as caught:
        pdf_to_text(pdf, budget=budget, check_time=one_second_per_page)
    assert caught.value.cap == "seconds"
    assert len(pages_read) == 3


def test_text_characters_are_counted_before_cleaning() -> None:
    text = "word " * 200  # 1000 characters
    assert extract_text(text.encode(), "text/plain", budget=IngestBudget(max_extracted_chars=1000))
    with pytest.raises(IngestBudgetExceeded) as caught:
        extract_text(text.encode(), "text/plain", budget=IngestBudget(max_extracted_chars=999))
    assert (caught.value.cap, caught.value.limit) == ("characters", 999)


def test_the_extractor_port_applies_its_budget_and_clock() -> None:
    clock = FakeMonotonic()
    pdf = make_pdf([["Rabbits eat hay."], ["Hay wears their teeth down."]])
    assert "Hay wears" in DocumentTextExtractor(IngestBudget(max_pages=2)).extract(pdf)
    with pytest.raises(IngestBudgetExceeded):
        DocumentTextExtractor(IngestBudget(max_pages=1)).extract(pdf)

    class Ticking(FakeMonotonic):
        def __call__(self) -> float:
            self.now += 10  # every reading is ten seconds later
            return self.now

    ticking = DocumentTextExtractor(IngestBudget(max_seconds=5), monotonic=Ticking())
    with pytest.raises(IngestBudgetExceeded) as caught:
        ticking.extract(pdf, "application/pdf")
    assert caught.value.cap == "seconds"
    assert DocumentTextExtractor(monotonic=clock).extract(pdf)  # a still clock: in time


def test_settings_defaults_match_the_domain_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = KbSettings()
    assert (
        defaults.max_extracted_chars,
        defaults.max_pages,
        defaults.max_chunks,
        defaults.max_ingest_seconds,
    ) == (
        KB_DEFAULT_MAX_EXTRACTED_CHARS,
        KB_DEFAULT_MAX_PAGES,
        KB_DEFAULT_MAX_CHUNKS,
        KB_DEFAULT_MAX_INGEST_SECONDS,
    )
    assert IngestBudget() == IngestBudget(
        max_extracted_chars=domain_kb.DEFAULT_MAX_EXTRACTED_CHARS,
        max_pages=domain_kb.DEFAULT_MAX_PAGES,
        max_chunks=domain_kb.DEFAULT_MAX_CHUNKS,
        max_seconds=domain_kb.DEFAULT_MAX_INGEST_SECONDS,
    )
    assert IngestBudget() == IngestBudget(
        max_extracted_chars=KB_DEFAULT_MAX_EXTRACTED_CHARS,
        max_pages=KB_DEFAULT_MAX_PAGES,
        max_chunks=KB_DEFAULT_MAX_CHUNKS,
        max_seconds=KB_DEFAULT_MAX_INGEST_SECONDS,
    )
    monkeypatch.setenv("VETCHART_KB_MAX_CHUNKS", "25")
    monkeypatch.setenv("VETCHART_KB_MAX_PAGES", "7")
    monkeypatch.setenv("VETCHART_KB_MAX_EXTRACTED_CHARS", "5000")
    monkeypatch.setenv("VETCHART_KB_MAX_INGEST_SECONDS", "1.5")
    configured = KbSettings()
    assert (
        configured.max_chunks,
        configured.max_pages,
        configured.max_extracted_chars,
        configured.max_ingest_seconds,
    ) == (25, 7, 5000, 1.5)


@pytest.mark.parametrize(
    "caps",
    [
        {"max_extracted_chars": 0},
        {"max_pages": 0},
        {"max_chunks": 0},
        {"max_seconds": 0},
    ],
)
def test_a_budget_of_nothing_is_refused(caps: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="ingestion"):
        IngestBudget(**caps)  # type: ignore[arg-type]
