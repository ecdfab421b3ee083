"""The keyword-cue visit summary: sections, and the transcript spans they rest on."""

from __future__ import annotations

import pytest

from vetchart.domain.kb.summaries import (
    SUMMARY_SECTIONS,
    TextSpan,
    as_section_name,
    empty_summary,
    summarize_transcript,
    summary_from_sections,
    transcript_sentences,
)

TRANSCRIPT = "\n".join(
    [
        "Vet: Hi, come on in. What brings Bella in today?",
        "Owner: She's been vomiting since Tuesday and she's off her food. "
        "She also had diarrhoea twice yesterday.",
        "Vet: Okay, let me have a look. Her temperature is 39.6 degrees and her heart rate "
        "is 120 bpm.",
        "Vet: She's mildly dehydrated and her abdomen is tender on palpation.",
        "Owner: Is it serious?",
        "Vet: I think this is most likely gastroenteritis, probably from something she ate.",
        "Vet: We'll give her an anti-nausea injection today and start her on a bland diet for "
        "three days. I'll also dispense probiotics, one sachet twice daily.",
        "Vet: Please bring her back for a recheck in two days, or call us if she gets worse.",
        "Owner: Thank you.",
    ]
)


def test_sentences_go_to_the_expected_sections() -> None:
    summary = summarize_transcript(TRANSCRIPT)
    assert [s.name for s in summary.sections] == list(SUMMARY_SECTIONS)
    assert summary.section("presenting_complaint").text == (
        "She's been vomiting since Tuesday and she's off her food. "
        "She also had diarrhoea twice yesterday."
    )
    findings = summary.section("findings").text
    assert "temperature is 39.6 degrees" in findings
    assert "dehydrated" in findings
    assert summary.section("assessment").text.startswith("I think this is most likely gastro")
    plan = summary.section("plan").text
    assert "anti-nausea injection" in plan
    assert "probiotics" in plan
    assert summary.section("follow_up").text.startswith("Please bring her back for a recheck")
    everything = " ".join(s.text for s in summary.sections)
    assert "Thank you" not in everything
    assert "come on in" not in everything


def test_every_span_is_exactly_the_quoted_text_without_the_speaker() -> None:
    summary = summarize_transcript(TRANSCRIPT)
    for section in summary.sections:
        quoted = [TRANSCRIPT[span.start : span.end] for span in section.spans]
        assert " ".join(quoted) == section.text
        for text in quoted:
            assert not text.startswith(("Vet:", "Owner:"))
        assert [s.start for s in section.spans] == sorted(s.start for s in section.spans)
    assert not summary.is_empty


def test_sections_are_capped_and_keep_transcript_order() -> None:
    lines = "\n".join(f"Vet: We'll start her on drug {n} at {n} mg twice daily." for n in range(8))
    plan = summarize_transcript(lines, max_sentences_per_section=3).section("plan")
    assert len(plan.spans) == 3
    assert plan.spans == tuple(sorted(plan.spans, key=lambda span: span.start))


def test_transcript_sentences_remember_the_speaker_of_the_line() -> None:
    sentences = transcript_sentences("Owner: It started Monday. He limps.\nVet: Okay.")
    assert [speaker for _, speaker in sentences] == ["owner", "owner", "vet"]
    assert sentences[0][0] == TextSpan(7, 25)


def test_empty_or_cue_less_transcripts_give_empty_sections() -> None:
    assert summarize_transcript("").is_empty
    assert summarize_transcript("Hello there. Nice weather.").is_empty
    assert empty_summary().is_empty


def test_summary_from_sections_orders_and_fills_in_missing_sections() -> None:
    summary = summary_from_sections({"plan": " Fluids. "}, {"plan": [TextSpan(0, 7)]})
    assert summary.section("plan").text == "Fluids."
    assert summary.section("plan").spans == (TextSpan(0, 7),)
    assert summary.section("findings").text == ""
    assert as_section_name("plan") == "plan"
    with pytest.raises(ValueError, match="unknown"):
        as_section_name("diagnosis")
    with pytest.raises(KeyError):
        summary.section("diagnosis")  # type: ignore[arg-type]
