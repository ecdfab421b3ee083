"""Sentences, terms, rank fusion and the in-memory BM25 ranking over the demo KB."""

from __future__ import annotations

import pytest

from tests.kb_questions import KB_QUESTIONS, TOP_K
from vetchart.demo_kb import demo_documents
from vetchart.domain.kb.chunking import chunk_document
from vetchart.domain.kb.front_matter import parse_front_matter
from vetchart.domain.kb.retrieval import Bm25Index, reciprocal_rank_fusion
from vetchart.domain.kb.text import sentence_spans, split_sentences, stem, terms


def test_sentences_split_on_end_punctuation_before_a_capital() -> None:
    text = "Parvo is serious! Is the pup vaccinated? Give 2.5 mg/kg twice daily. Recheck soon."
    assert split_sentences(text) == [
        "Parvo is serious!",
        "Is the pup vaccinated?",
        "Give 2.5 mg/kg twice daily.",
        "Recheck soon.",
    ]


def test_abbreviations_initials_and_lower_case_continuations_do_not_split() -> None:
    text = (
        "Dr. Patel saw the cat, e.g. for the ears. Ask J. Smith about it. "
        'Use approx. 5 ml. then stop. Quoted "end." Next one.'
    )
    assert split_sentences(text) == [
        "Dr. Patel saw the cat, e.g. for the ears.",
        "Ask J. Smith about it.",
        "Use approx. 5 ml. then stop.",
        'Quoted "end."',
        "Next one.",
    ]


def test_lines_and_list_items_are_separate_sentences_without_their_markers() -> None:
    text = "Signs:\n- lethargy\n- vomiting and fever\n2. Call the vet\n\nLast line"
    assert split_sentences(text) == [
        "Signs:",
        "lethargy",
        "vomiting and fever",
        "Call the vet",
        "Last line",
    ]


def test_sentence_spans_point_into_the_text() -> None:
    text = "  One here.   Two there!\n  - three  "
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["One here.", "Two there!", "three"]


@pytest.mark.parametrize(
    "words",
    [
        ("vaccination", "vaccinate", "vaccinated", "vaccines", "vaccine"),
        ("urinating", "urine", "urinary"),
        ("diarrhoea", "diarrhea"),
        ("anaemia", "anemia"),
        ("allergies", "allergic", "allergy"),
        ("scratching", "scratches", "scratch"),
        ("teeth", "tooth"),
        ("dogs", "dog"),
        ("infections", "infected", "infection"),
    ],
)
def test_stemming_brings_word_forms_and_spellings_together(words: tuple[str, ...]) -> None:
    assert len({stem(word) for word in words}) == 1, {word: stem(word) for word in words}


def test_terms_drop_stop_words_and_keep_order() -> None:
    assert terms("How often should my puppy get vaccinated against Parvovirus?") == [
        "often",
        "pupp",
        "vaccin",
        "parvovirus",
    ]
    assert terms("What is it?") == []


def test_reciprocal_rank_fusion_sums_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60)
    assert [item for item, _ in fused] == ["b", "a", "d", "c"]
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["d"] == pytest.approx(1 / 62)
    assert scores["c"] == pytest.approx(1 / 63)


def test_rank_fusion_is_deterministic_on_ties_and_ignores_repeats() -> None:
    fused = reciprocal_rank_fusion([["x", "y"], ["y", "x"], ["z", "z"]], k=1)
    assert [item for item, _ in fused] == ["x", "y", "z"]
    assert dict(fused)["z"] == pytest.approx(1 / 2)
    assert reciprocal_rank_fusion([]) == []
    with pytest.raises(ValueError, match="positive"):
        reciprocal_rank_fusion([["a"]], k=0)


def test_bm25_prefers_rare_matching_terms() -> None:
    index = Bm25Index(["the dog has a cough", "the dog has fleas", "cats and lilies"])
    results = index.search("dog cough", top_k=5)
    assert [i for i, _ in results] == [0, 1]
    assert results[0][1] > results[1][1]
    assert index.search("parrots") == []


def test_demo_questions_find_their_document_in_the_top_three_with_bm25() -> None:
    chunks: list[tuple[str, str]] = []
    for document in demo_documents():
        parsed = parse_front_matter(document.text)
        for chunk in chunk_document(parsed.body):
            chunks.append((document.filename, chunk.contextual_text(parsed.title)))
    index = Bm25Index([text for _, text in chunks])
    misses = []
    for question in KB_QUESTIONS:
        documents: list[str] = []
        for position, _ in index.search(question.question, top_k=40):
            if chunks[position][0] not in documents:
                documents.append(chunks[position][0])
        if question.expected_document not in documents[:TOP_K]:
            misses.append((question.question, documents[:TOP_K]))
    assert len(KB_QUESTIONS) == 20
    assert misses == []
