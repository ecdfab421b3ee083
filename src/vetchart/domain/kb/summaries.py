"""Visit summaries: the sections of a structured visit summary with the transcript spans
each line rests on, and the keyword-cue extractor that drafts one from a transcript
(``summarize_transcript``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, cast

from vetchart.domain.kb.text import sentence_spans

SummarySectionName = Literal["presenting_complaint", "findings", "assessment", "plan", "follow_up"]
SUMMARY_SECTIONS: Final[tuple[SummarySectionName, ...]] = (
    "presenting_complaint",
    "findings",
    "assessment",
    "plan",
    "follow_up",
)


@dataclass(frozen=True)
class TextSpan:
    """``transcript[start:end]`` is the passage a summary line rests on."""

    start: int
    end: int


@dataclass(frozen=True)
class SummarySection:
    name: SummarySectionName
    text: str
    spans: tuple[TextSpan, ...]


@dataclass(frozen=True)
class VisitSummary:
    sections: tuple[SummarySection, ...]

    def section(self, name: SummarySectionName) -> SummarySection:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)

    @property
    def is_empty(self) -> bool:
        return not any(section.text for section in self.sections)


def empty_summary() -> VisitSummary:
    return VisitSummary(tuple(SummarySection(name, "", ()) for name in SUMMARY_SECTIONS))


def _cues(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")")


# Keyword cues per section, matched on the lower-cased sentence. Each distinct cue
# that matches adds one point; a sentence goes to its best-scoring section.
_SECTION_CUES: Final[Mapping[SummarySectionName, tuple[re.Pattern[str], ...]]] = {
    "presenting_complaint": tuple(
        _cues(p)
        for p in (
            r"(?:has|have|she's|he's|it's) been",
            r"since (?:yesterday|last|this|monday|tuesday|wednesday|thursday|friday|saturday"
            r"|sunday|the)",
            r"(?:started|began|noticed|worried|concerned)",
            r"brought (?:him|her|them|it) in|came in|in today (?:for|because)",
            r"for the (?:past|last)",
            r"\d+ (?:days?|weeks?|hours?|months?) (?:ago|now)",
            r"off (?:his|her|its) food|not eating|won't eat|stopped eating",
            r"(?:keeps?|kept) (?:vomiting|scratching|coughing|limping|shaking|licking)",
            r"reason for (?:the |today's )?visit|presenting|complain",
            r"owner reports|history of",
            r"yesterday|last night|this morning|overnight",
            r"(?:had|has|having|with) (?:some |a bit of |bloody )?(?:vomiting|diarrh|a cough"
            r"|coughing|sneezing|limping|itching|seizures?|fits?)",
        )
    ),
    "findings": tuple(
        _cues(p)
        for p in (
            r"temperature|temp is|fever|°c|degrees",
            r"heart rate|pulse|respiratory rate|breathing rate|bpm|murmur",
            r"weighs|weight is|kg\b|body condition",
            r"on (?:exam|examination|palpation|auscultation)|i can (?:see|feel|hear)",
            r"mucous membranes|gums are|capillary refill|crt",
            r"lymph nodes?|abdomen (?:is|feels)|painful on|pain on|tender",
            r"dehydrat|swollen|swelling|redness|inflamed|discharge|lesion|mass\b",
            r"(?:looks?|feels?|sounds?) (?:normal|clear|fine|good|healthy)",
            r"ear canal|otoscop|skin is|coat is|eyes are|teeth are|tartar",
            r"blood (?:work|test|results)|results show|urinalysis showed|x-rays? show",
        )
    ),
    "assessment": tuple(
        _cues(p)
        for p in (
            r"diagnos",
            r"likely|probably|most likely|suspect|suspicion",
            r"consistent with|suggestive of|looks like|compatible with",
            r"i think (?:this|it|she|he)|my impression|assessment",
            r"differential|rule out|ruled out",
            r"infection|gastroenteritis|otitis|dermatitis|arthritis|pancreatitis|cystitis",
        )
    ),
    "plan": tuple(
        _cues(p)
        for p in (
            r"prescrib|dispens|administer",
            r"\d+(?:\.\d+)? ?(?:mg|ml|mcg|units?|tablets?|capsules?)\b",
            r"(?:once|twice|three times) (?:a |per )?day|daily|every \d+ hours|sid|bid|tid",
            r"we(?:'ll| will) (?:start|give|run|do|take|send|put|book|try)",
            r"(?:start|starting|begin) (?:her|him|them|it)? ?on",
            r"i(?:'d| would) (?:like to|recommend)|recommend",
            r"treatment|antibiotic|anti-inflammator|pain relief|injection|vaccin",
            r"bland diet|diet|fluids|surgery|x-rays?\b|radiograph|blood ?work|ultrasound",
            r"the plan|plan is|going to (?:give|start|run|do|send)",
            r"cone|e-collar|rest\b|restrict",
        )
    ),
    "follow_up": tuple(
        _cues(p)
        for p in (
            r"follow[- ]?up",
            r"re-?check|recheck|re-?examin",
            r"come back|bring (?:her|him|them|it) back|return (?:in|if|for)|see (?:her|him|"
            r"them|you) (?:again|back|in)",
            r"in (?:\d+|one|two|three|four|a few|a couple of) (?:days?|weeks?|months?)",
            r"next (?:week|month|visit|appointment)",
            r"call (?:us|the clinic)|phone us|contact us",
            r"if (?:it|she|he|they|things) (?:gets?|get|getting) worse|if (?:it|she|he) "
            r"(?:doesn't|does not) improve",
            r"book (?:an|a|the) (?:appointment|visit|recheck)",
        )
    ),
}
# When two sections score the same, the more specific one wins.
_TIE_PRIORITY: Final[tuple[SummarySectionName, ...]] = (
    "follow_up",
    "plan",
    "assessment",
    "findings",
    "presenting_complaint",
)
_SPEAKER_RE: Final = re.compile(r"[A-Z][A-Za-z .'-]{0,30}:[ \t]+")
_OWNER_SPEAKERS: Final = frozenset({"owner", "client", "mum", "mom", "dad"})


def transcript_sentences(transcript: str) -> list[tuple[TextSpan, str | None]]:
    """Each sentence of a transcript as a span (speaker label left out) and the speaker
    named at the start of its line, if any (``"Vet: ..."``)."""
    result: list[tuple[TextSpan, str | None]] = []
    speaker: str | None = None
    line_start = -1
    for start, end in sentence_spans(transcript):
        this_line = transcript.rfind("\n", 0, start) + 1
        if this_line != line_start:
            line_start, speaker = this_line, None
        label = _SPEAKER_RE.match(transcript, start, end)
        if label is not None:
            speaker = transcript[start : label.end()].rstrip(": \t").lower()
            start = label.end()
        if start < end:
            result.append((TextSpan(start, end), speaker))
    return result


def summarize_transcript(transcript: str, *, max_sentences_per_section: int = 5) -> VisitSummary:
    """A draft structured summary of a visit transcript, by keyword cues.

    Every transcript sentence is scored against the cues of each section and assigned
    to the best one (none if no cue matches). A section keeps its best sentences (at
    most ``max_sentences_per_section``) in transcript order; its spans say exactly
    which transcript characters each line came from.
    """
    chosen: dict[SummarySectionName, list[tuple[float, int, TextSpan]]] = {
        name: [] for name in SUMMARY_SECTIONS
    }
    for position, (span, speaker) in enumerate(transcript_sentences(transcript)):
        lowered = transcript[span.start : span.end].lower()
        scores: dict[SummarySectionName, float] = {
            name: float(sum(1 for cue in cues if cue.search(lowered)))
            for name, cues in _SECTION_CUES.items()
        }
        if speaker in _OWNER_SPEAKERS and scores["presenting_complaint"] > 0:
            scores["presenting_complaint"] += 0.5
        best = max(_TIE_PRIORITY, key=lambda name: (scores[name], -_TIE_PRIORITY.index(name)))
        if scores[best] >= 1:
            chosen[best].append((scores[best], position, span))
    sections: list[SummarySection] = []
    for name in SUMMARY_SECTIONS:
        picked = sorted(chosen[name], key=lambda item: (-item[0], item[1]))
        kept = sorted(picked[:max_sentences_per_section], key=lambda item: item[1])
        spans = tuple(span for _, _, span in kept)
        text = " ".join(transcript[span.start : span.end] for span in spans)
        sections.append(SummarySection(name, text, spans))
    return VisitSummary(tuple(sections))


def summary_from_sections(
    texts: Mapping[str, str], spans: Mapping[str, Sequence[TextSpan]]
) -> VisitSummary:
    """A summary from per-section texts and spans (e.g. a model's), in canonical order."""
    return VisitSummary(
        tuple(
            SummarySection(name, texts.get(name, "").strip(), tuple(spans.get(name, ())))
            for name in SUMMARY_SECTIONS
        )
    )


def is_summary_section(name: str) -> bool:
    return name in SUMMARY_SECTIONS


def as_section_name(name: str) -> SummarySectionName:
    if not is_summary_section(name):
        raise ValueError(f"unknown summary section {name!r}")
    return cast(SummarySectionName, name)
