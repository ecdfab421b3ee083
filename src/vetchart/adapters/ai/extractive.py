"""The local defaults: answers and visit summaries made of the source's own sentences.

No outside service, no model, deterministic: what the product does when no AI service
is configured, and what it falls back to when one is down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from vetchart.domain.kb.answers import Passage, compose_extractive_answer
from vetchart.domain.kb.labels import Audience
from vetchart.domain.kb.summaries import summarize_transcript
from vetchart.services.ports.ai import Answer, VisitSummaryDraft

EXTRACTIVE: Final = "extractive"
# Bumped when the extraction rules change, so drafts say which rules made them.
EXTRACTIVE_SUMMARY_VERSION: Final = "extractive-summary/1"


class ExtractiveAnswerer:
    """Answers with the passages' best-matching sentences, each cited ``[n]``."""

    def __init__(self, *, max_sentences: int = 4, max_chars: int = 900) -> None:
        self._max_sentences = max_sentences
        self._max_chars = max_chars

    @property
    def name(self) -> str:
        return EXTRACTIVE

    async def answer(
        self, question: str, passages: Sequence[Passage], audience: Audience
    ) -> Answer:
        # The audience cannot change the wording of quoted sentences; it is used by the
        # search filters instead.
        result = compose_extractive_answer(
            question, passages, max_sentences=self._max_sentences, max_chars=self._max_chars
        )
        return Answer(
            text=result.text,
            cited=result.cited,
            mode="extractive",
            grounded=result.grounded,
            model=None,
            prompt_version=None,
        )


class ExtractiveSummarizer:
    """Sorts transcript sentences into summary sections by keyword cues."""

    def __init__(self, *, max_sentences_per_section: int = 5) -> None:
        self._max = max_sentences_per_section

    @property
    def name(self) -> str:
        return EXTRACTIVE

    async def summarize(self, transcript: str) -> VisitSummaryDraft:
        return VisitSummaryDraft(
            summary=summarize_transcript(transcript, max_sentences_per_section=self._max),
            adapter=EXTRACTIVE,
            model=None,
            prompt_version=EXTRACTIVE_SUMMARY_VERSION,
        )
