"""The extractive answer: the passages' own best-matching sentences, cited [n]."""

from __future__ import annotations

from vetchart.domain.kb.answers import (
    NO_ANSWER_TEXT,
    Passage,
    cited_sources,
    compose_extractive_answer,
    strip_unknown_citations,
)

PARVO = Passage(
    n=3,
    title="Canine parvovirus",
    text=(
        "## How parvo spreads\n"
        "Infected dogs shed the virus in their faeces for about two weeks. "
        "Dogs catch parvovirus by licking contaminated ground, bowls or shoes. "
        "The weather was nice that day."
    ),
)
VACCINES = Passage(
    n=5,
    title="Vaccination schedule for dogs",
    text=(
        "Puppies receive parvovirus vaccine from six to eight weeks of age. "
        "Boosters follow every three years."
    ),
)
LILIES = Passage(n=7, title="Lily poisoning", text="Lilies are toxic to cats.")


def test_answer_quotes_matching_sentences_and_cites_their_source_numbers() -> None:
    answer = compose_extractive_answer("How do dogs catch parvovirus?", [PARVO, VACCINES, LILIES])
    assert answer.grounded
    assert "Dogs catch parvovirus by licking contaminated ground, bowls or shoes [3]." in (
        answer.text
    )
    assert "weather" not in answer.text
    assert "Lilies" not in answer.text
    assert answer.cited[0] == 3
    assert set(answer.cited) <= {3, 5}
    assert cited_sources(answer.text, {3, 5, 7}) == answer.cited


def test_sentences_keep_passage_order_and_the_per_passage_cap() -> None:
    answer = compose_extractive_answer("parvovirus", [VACCINES, PARVO])
    assert answer.text.index("[5]") < answer.text.index("[3]")
    fleas = Passage(n=2, title="", text="Fleas bite dogs hard. Fleas itch a lot. Fleas lay eggs.")
    capped = compose_extractive_answer("fleas", [fleas], max_per_passage=2)
    assert capped.text == "Fleas bite dogs hard [2]. Fleas itch a lot [2]."


def test_headings_are_not_quoted() -> None:
    answer = compose_extractive_answer("How does parvo spread?", [PARVO])
    assert "##" not in answer.text
    assert "How parvo spreads" not in answer.text


def test_long_sentences_are_trimmed_at_a_word_and_the_answer_is_bounded() -> None:
    long = Passage(
        n=1, title="Fleas", text="Flea " + " ".join(["treatment"] * 200) + " works well."
    )
    answer = compose_extractive_answer("flea treatment", [long], max_sentence_chars=120)
    assert answer.grounded
    assert answer.text.endswith("\u2026 [1]")
    assert len(answer.text) <= 120 + len(" [1]")
    many = [Passage(n=i, title="", text=f"Flea treatment number {i} helps.") for i in range(10)]
    bounded = compose_extractive_answer("flea treatment", many, max_chars=80)
    assert len(bounded.text) <= 80


def test_no_matching_sentence_gives_a_plain_no_answer_without_citations() -> None:
    answer = compose_extractive_answer("Is ibuprofen safe for rabbits?", [PARVO, VACCINES])
    assert answer == type(answer)(NO_ANSWER_TEXT, (), False)
    assert not compose_extractive_answer("what is it?", [PARVO]).grounded
    assert not compose_extractive_answer("parvovirus", []).grounded


def test_citation_helpers_keep_only_known_sources() -> None:
    text = "Fluids help [2]. Rest too [9][2]. See [4]."
    assert cited_sources(text, {2, 4}) == (2, 4)
    assert strip_unknown_citations(text, {2, 4}) == "Fluids help [2]. Rest too[2]. See [4]."
