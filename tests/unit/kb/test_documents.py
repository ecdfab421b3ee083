"""Knowledge-base document rules: the upload form, markdown told apart from text, title
and labels settled at ingestion, the life cycle, rank fusion and excerpts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from vetchart.domain.errors import RuleViolation
from vetchart.domain.kb.documents import (
    MAX_ERROR_CHARS,
    DocumentFields,
    DocumentFile,
    DocumentState,
    KbDocument,
    document_media_type,
    resolve_metadata,
    title_from_filename,
)
from vetchart.domain.kb.front_matter import parse_front_matter
from vetchart.domain.kb.labels import Labels
from vetchart.domain.kb.retrieval import RankedCandidate, excerpt, fuse_rankings

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FILE = DocumentFile("kb_document/2026/11/x", "guide.md", "text/markdown", 10, "ab" * 32)


def test_form_fields_are_validated_and_normalised() -> None:
    fields = DocumentFields.from_form(
        {
            "title": ["  Canine   parvovirus "],
            "species": ["Dog", "cat, dog"],
            "symptoms": ["Vomiting"],
            "audience": ["owner"],
            "body_system": ["Gastrointestinal"],
            "source_url": ["https://example.org/parvo"],
        }
    )
    assert fields.title == "Canine parvovirus"
    assert fields.species == ("dog", "cat")
    assert fields.audience == "pet-owner"
    assert fields.body_system == "gastrointestinal"
    assert DocumentFields.from_json(fields.to_json()) == fields
    assert DocumentFields.from_form({}) == DocumentFields()


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        ({"colour": ["red"]}, "kb.unknown_field"),
        ({"title": ["a", "b"]}, "kb.repeated_field"),
        ({"title": ["x" * 201]}, "kb.title_too_long"),
        ({"audience": ["everyone"]}, "kb.audience_invalid"),
        ({"species": ["<b>"]}, "kb.label_invalid"),
        ({"source_url": ["ftp://example.org/x"]}, "kb.source_url_invalid"),
        ({"source_url": ["/relative"]}, "kb.source_url_invalid"),
    ],
)
def test_bad_form_fields_name_their_rule(values: dict[str, list[str]], rule: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        DocumentFields.from_form(values)
    assert caught.value.rule == rule


@pytest.mark.parametrize(
    ("detected", "filename", "declared", "stored"),
    [
        ("text/plain", "notes.md", None, "text/markdown"),
        ("text/plain", "NOTES.MARKDOWN", None, "text/markdown"),
        ("text/plain", "notes", "text/markdown; charset=utf-8", "text/markdown"),
        ("text/plain", "notes.txt", "text/plain", "text/plain"),
        ("application/pdf", "notes.md", "text/markdown", "application/pdf"),
    ],
)
def test_markdown_is_told_apart_from_text_by_name_or_declared_type(
    detected: str, filename: str, declared: str | None, stored: str
) -> None:
    assert document_media_type(detected, filename=filename, declared=declared) == stored


def test_titles_of_last_resort_come_from_the_file_name() -> None:
    assert title_from_filename("canine-parvovirus.md") == "Canine parvovirus"
    assert title_from_filename("lab_report_2024.pdf") == "Lab report 2024"
    assert title_from_filename("") == "Untitled document"


def test_the_form_wins_over_the_front_matter_which_wins_over_headings() -> None:
    text = (
        "---\ntitle: From front matter\nspecies: [cat]\nsymptoms: [cough]\n"
        "audience: expert\nsource_url: https://example.org/a\n---\n# Heading title\n\nBody.\n"
    )
    front = parse_front_matter(text)
    given = DocumentFields(species=("dog",), audience="pet-owner")
    resolved = resolve_metadata(given, front, filename="x.md")
    assert resolved.title == "From front matter"
    assert resolved.labels == Labels(species=("dog",), symptoms=("cough",), audience="pet-owner")
    assert resolved.source_url == "https://example.org/a"
    bare = parse_front_matter("# Heading title\n\nBody.\n")
    assert resolve_metadata(DocumentFields(), bare, filename="x.md").title == "Heading title"
    plain = parse_front_matter("Body only.\n")
    assert resolve_metadata(DocumentFields(), plain, filename="my-notes.txt").title == "My notes"
    titled = DocumentFields(title="Given")
    assert resolve_metadata(titled, front, filename="x.md").title == "Given"


def test_a_document_moves_through_its_states() -> None:
    document = KbDocument.new(
        document_id=uuid.uuid4(), given=DocumentFields(), file=FILE, created_by=None, now=NOW
    )
    assert (document.state, document.title, document.chunk_count) == (
        DocumentState.PENDING,
        "Guide",
        0,
    )
    front = parse_front_matter("# Guide to things\n\nText.")
    done = document.start_ingesting(NOW).ingested(
        resolve_metadata(document.given, front, filename=FILE.filename), 3, NOW
    )
    assert (done.state, done.chunk_count, done.title, done.ingested_at) == (
        DocumentState.INGESTED,
        3,
        "Guide to things",
        NOW,
    )
    failed = done.failed("x " * 600, NOW)
    assert failed.state is DocumentState.FAILED
    assert failed.chunk_count == 0
    assert failed.error is not None
    assert len(failed.error) == MAX_ERROR_CHARS
    waiting = done.waiting("openai down", NOW)
    assert (waiting.state, waiting.error) == (DocumentState.PENDING, "openai down")
    replaced = done.with_file(FILE, DocumentFields(title="New"), NOW)
    assert (replaced.state, replaced.title, replaced.chunk_count) == (
        DocumentState.PENDING,
        "New",
        3,
    )


def test_rankings_are_fused_or_used_alone() -> None:
    a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    text_only = [RankedCandidate(a, 2, 0.1), RankedCandidate(b, 1, 0.3)]
    fused, how = fuse_rankings(text_only)
    assert how == "text"
    assert [(f.chunk_id, f.score) for f in fused] == [(b, 0.3), (a, 0.1)]
    both = [
        RankedCandidate(a, text_rank=1, text_score=0.5),
        RankedCandidate(b, text_rank=2, text_score=0.4, vector_rank=1, vector_score=0.9),
        RankedCandidate(c, vector_rank=2, vector_score=0.8),
    ]
    fused, how = fuse_rankings(both, k=60)
    assert how == "hybrid"
    assert [f.chunk_id for f in fused] == [b, a, c]  # found by both rankings: first
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    vector_only, how = fuse_rankings([RankedCandidate(c, vector_rank=1, vector_score=0.7)])
    assert (how, vector_only[0].score) == ("vector", 0.7)
    assert fuse_rankings([]) == ([], "none")


def test_an_excerpt_starts_at_the_best_matching_sentence() -> None:
    text = (
        "## Chocolate\n\nChocolate contains theobromine. Dark chocolate is the most "
        "dangerous for small dogs. Milk chocolate has less. White chocolate has very little."
    )
    shown = excerpt("Is dark chocolate dangerous for a small dog?", text, max_chars=90)
    assert shown.startswith("Dark chocolate is the most dangerous")
    assert len(shown) <= 91
    assert excerpt("unrelated words", text, max_chars=40).startswith("Chocolate contains")
    assert "##" not in excerpt("chocolate", text)
