"""Chunking of reference documents: bounds, overlap, headings, word boundaries,
determinism."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vetchart.demo_kb import demo_documents
from vetchart.domain.kb.chunking import Chunk, chunk_document
from vetchart.domain.kb.front_matter import parse_front_matter

WORDS = [
    "the",
    "dog",
    "was",
    "vomiting",
    "since",
    "Tuesday",
    "and",
    "the",
    "vet",
    "found",
    "a",
    "fever.",
    "Fluids",
    "were",
    "started",
    "at",
    "once,",
    "because",
    "parvovirus",
    "spreads",
    "quickly!",
    "Is",
    "the",
    "puppy",
    "vaccinated?",
    "Owners",
    "should",
    "disinfect",
    "bowls,",
    "bedding",
    "and",
    "floors",
    "with",
    "diluted",
    "bleach.",
]


def paragraph(n_words: int, offset: int = 0) -> str:
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n_words))


def long_document() -> str:
    return (
        "Intro line before any heading.\n\n"
        "# Parvovirus\n\n"
        f"{paragraph(60)}\n\n"
        "## How it spreads\n\n"
        f"{paragraph(120, 3)}\n\n{paragraph(150, 7)}\n\n{paragraph(90, 11)}\n\n"
        "## Signs\n\n"
        "- lethargy and fever\n- vomiting\n- bloody diarrhoea\n\n"
        "# Empty heading\n\n"
        "## Treatment\n\n"
        f"{paragraph(40, 5)}\n"
    )


def assert_word_boundaries(text: str, chunk: Chunk) -> None:
    assert chunk.start == 0 or text[chunk.start - 1].isspace(), chunk
    assert chunk.end == len(text) or text[chunk.end].isspace(), chunk


def test_chunks_are_slices_within_bounds_and_on_word_boundaries() -> None:
    text = long_document()
    chunks = chunk_document(text, max_chars=400, overlap_chars=80)
    assert len(chunks) > 5
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert chunk.text == text[chunk.start : chunk.end]
        assert 0 < len(chunk.text) <= 400
        assert chunk.text == chunk.text.strip()
        assert_word_boundaries(text, chunk)


def test_long_sections_split_with_bounded_overlap() -> None:
    text = long_document()
    chunks = list(chunk_document(text, max_chars=400, overlap_chars=80))
    spreads = [c for c in chunks if c.heading_path == ("Parvovirus", "How it spreads")]
    assert len(spreads) >= 3
    for before, after in itertools.pairwise(spreads):
        shared = before.end - after.start
        assert 0 < shared <= 80, (before, after)
        assert text[after.start : before.end] in before.text
    assert spreads[0].text.startswith("## How it spreads")


def test_every_word_of_the_document_is_in_some_chunk() -> None:
    text = long_document()
    covered = [False] * len(text)
    for chunk in chunk_document(text, max_chars=300, overlap_chars=60):
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] for i, char in enumerate(text) if not char.isspace())


def test_headings_give_paths_and_a_bare_heading_joins_the_next_section() -> None:
    chunks = chunk_document(long_document(), max_chars=1200, overlap_chars=150)
    paths = [c.heading_path for c in chunks]
    assert paths[0] == ()
    assert chunks[0].text == "Intro line before any heading."
    assert ("Parvovirus",) in paths
    assert ("Parvovirus", "Signs") in paths
    treatment = next(c for c in chunks if c.heading_path == ("Empty heading", "Treatment"))
    assert treatment.text.startswith("# Empty heading\n\n## Treatment")
    assert ("Empty heading",) not in paths


def test_small_document_is_one_chunk_and_heading_in_code_fence_is_ignored() -> None:
    text = "# Title\n\nShort text.\n\n```\n# not a heading\n```\n"
    chunks = chunk_document(text)
    assert len(chunks) == 1
    assert chunks[0].heading_path == ("Title",)
    assert chunk_document("") == []
    assert chunk_document("   \n\n ") == []


def test_a_word_longer_than_a_chunk_is_the_only_thing_ever_cut() -> None:
    text = "start " + "x" * 250 + " end"
    chunks = chunk_document(text, max_chars=100, overlap_chars=20)
    assert all(len(c.text) <= 100 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "").count("x") >= 250
    assert chunks[0].text == "start"


def test_chunking_is_deterministic_and_validates_its_arguments() -> None:
    text = long_document()
    assert chunk_document(text, max_chars=350) == chunk_document(text, max_chars=350)
    with pytest.raises(ValueError, match="max_chars"):
        chunk_document(text, max_chars=10)
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(text, max_chars=100, overlap_chars=60)


def test_contextual_text_prefixes_title_and_headings() -> None:
    chunk = Chunk(0, ("Signs", "Early"), "Fever.", 0, 6)
    assert chunk.contextual_text("Parvo") == "Parvo > Signs > Early\n\nFever."
    assert Chunk(0, (), "Fever.", 0, 6).contextual_text() == "Fever."


def test_demo_documents_chunk_within_default_bounds() -> None:
    for document in demo_documents():
        body = parse_front_matter(document.text).body
        chunks = chunk_document(body)
        assert 3 <= len(chunks) <= 12, document.filename
        assert all(len(c.text) <= 1200 for c in chunks)


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=14)
_sentence = st.lists(_word, min_size=1, max_size=30).map(lambda ws: " ".join(ws) + ".")
_paragraph = st.lists(_sentence, min_size=1, max_size=12).map(" ".join)
_block = st.one_of(
    _paragraph, st.builds(lambda level, w: "#" * level + " " + w, st.integers(1, 3), _word)
)


@settings(max_examples=60, deadline=None)
@given(
    blocks=st.lists(_block, min_size=1, max_size=15),
    max_chars=st.integers(60, 600),
    overlap_share=st.floats(0.0, 0.5),
)
def test_chunking_properties_hold_for_any_document(
    blocks: list[str], max_chars: int, overlap_share: float
) -> None:
    text = "\n\n".join(blocks)
    overlap = int(max_chars * overlap_share) if max_chars * overlap_share < max_chars // 2 else 0
    chunks = chunk_document(text, max_chars=max_chars, overlap_chars=overlap)
    covered = [False] * len(text)
    for chunk in chunks:
        assert 0 < len(chunk.text) <= max_chars
        assert chunk.text == text[chunk.start : chunk.end]
        assert_word_boundaries(text, chunk)  # words are at most 14 chars here
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] for i, char in enumerate(text) if not char.isspace())
    assert chunks == chunk_document(text, max_chars=max_chars, overlap_chars=overlap)
