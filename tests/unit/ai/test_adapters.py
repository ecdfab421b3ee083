"""The local extractive adapters, and the pure parts of the Pinecone adapter."""

from __future__ import annotations

import uuid

import pytest

from vetchart.adapters.ai.breaker import Failure
from vetchart.adapters.ai.extractive import (
    EXTRACTIVE_SUMMARY_VERSION,
    ExtractiveAnswerer,
    ExtractiveSummarizer,
)
from vetchart.adapters.ai.pinecone_adapter import (
    classify_pinecone_error,
    label_metadata,
    pinecone_filter,
)
from vetchart.domain.kb.answers import Passage
from vetchart.domain.kb.labels import LabelFilter, Labels
from vetchart.services.ports.ai import Answerer, Summarizer


async def test_extractive_answerer_answers_from_the_passages() -> None:
    answerer: Answerer = ExtractiveAnswerer()
    passages = [Passage(n=1, title="Xylitol", text="Xylitol causes low blood sugar in dogs.")]
    answer = await answerer.answer("Is xylitol dangerous for dogs?", passages, "pet-owner")
    assert answer.text == "Xylitol causes low blood sugar in dogs [1]."
    assert (answer.mode, answer.cited, answer.grounded) == ("extractive", (1,), True)
    assert answer.model is None
    assert answer.prompt_version is None
    assert answerer.name == "extractive"
    nothing = await answerer.answer("What about parrots?", passages, "expert")
    assert not nothing.grounded
    assert nothing.cited == ()


async def test_extractive_summarizer_makes_a_draft_with_its_provenance() -> None:
    summarizer: Summarizer = ExtractiveSummarizer()
    transcript = "Owner: He has been limping for the past week.\nVet: Recheck in two weeks."
    draft = await summarizer.summarize(transcript)
    assert draft.adapter == "extractive"
    assert draft.model is None
    assert draft.prompt_version == EXTRACTIVE_SUMMARY_VERSION
    complaint = draft.summary.section("presenting_complaint")
    assert complaint.text == "He has been limping for the past week."
    follow_up = draft.summary.section("follow_up")
    assert [transcript[s.start : s.end] for s in follow_up.spans] == ["Recheck in two weeks."]


def test_label_filters_translate_to_pinecone_metadata_filters() -> None:
    assert pinecone_filter(None) is None
    assert pinecone_filter(LabelFilter()) is None
    assert pinecone_filter(LabelFilter.build(doc_type="guideline")) == {
        "doc_type": {"$eq": "guideline"}
    }
    assert pinecone_filter(
        LabelFilter.build(
            species=["dog", "cat"],
            symptoms=["itching"],
            body_system="skin",
            audience="owner",
            doc_type="guideline",
        )
    ) == {
        "$and": [
            {"species": {"$in": ["dog", "cat"]}},
            {"symptoms": {"$in": ["itching"]}},
            {"body_system": {"$eq": "skin"}},
            {"audience": {"$eq": "pet-owner"}},
            {"doc_type": {"$eq": "guideline"}},
        ]
    }


def test_metadata_leaves_out_absent_labels() -> None:
    document = uuid.uuid4()
    assert label_metadata(document, 3, Labels()) == {
        "document_id": str(document),
        "chunk_index": 3,
    }


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError(), Failure.RETRYABLE),
        (KeyError("bug"), None),
    ],
)
def test_pinecone_errors_are_classified(error: Exception, kind: Failure | None) -> None:
    assert classify_pinecone_error(error) is kind
