"""Labels, label filters and the front-matter block of reference documents."""

from __future__ import annotations

import pytest

from vetchart.demo_kb import demo_documents
from vetchart.domain.errors import RuleViolation
from vetchart.domain.kb.front_matter import parse_front_matter
from vetchart.domain.kb.labels import (
    AUDIENCES,
    LabelFilter,
    Labels,
    normalize_label,
    parse_audience,
)


def test_labels_are_normalized_deduplicated_and_split_on_commas() -> None:
    labels = Labels.build(
        species=["Dog", " cat ", "dog"],
        symptoms=["Vomiting,  Loss   of appetite", "vomiting"],
        body_system=" Gastro-Intestinal ",
        audience="Owner",
        doc_type="Condition",
    )
    assert labels == Labels(
        species=("dog", "cat"),
        symptoms=("vomiting", "loss of appetite"),
        body_system="gastro-intestinal",
        audience="pet-owner",
        doc_type="condition",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("expert", "expert"),
        ("VET", "expert"),
        ("pet-owner", "pet-owner"),
        ("pet owner", "pet-owner"),
    ],
)
def test_audience_accepts_the_spec_values_and_aliases(value: str, expected: str) -> None:
    assert parse_audience(value) == expected
    assert expected in AUDIENCES


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "kb.label_empty"),
        ("x" * 65, "kb.label_too_long"),
        ("dogs; DROP TABLE", "kb.label_invalid"),
        ("-dog", "kb.label_invalid"),
    ],
)
def test_invalid_labels_are_refused_naming_the_rule(value: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        normalize_label(value, field="species")
    assert caught.value.rule == rule
    assert caught.value.field == "species"


def test_unknown_audience_and_too_many_labels_are_refused() -> None:
    with pytest.raises(RuleViolation, match="expert"):
        parse_audience("public")
    with pytest.raises(RuleViolation) as caught:
        Labels.build(symptoms=[f"sign {n}" for n in range(21)])
    assert caught.value.rule == "kb.too_many_labels"


def test_label_filter_matches_any_shared_list_value_and_equal_scalars() -> None:
    labels = Labels.build(
        species=["dog", "cat"], symptoms=["itching"], body_system="skin", audience="pet-owner"
    )
    assert LabelFilter().is_empty()
    assert LabelFilter().matches(labels)
    assert LabelFilter.build(species=["cat", "rabbit"]).matches(labels)
    assert not LabelFilter.build(species=["rabbit"]).matches(labels)
    assert LabelFilter.build(symptoms=["itching"], body_system="skin").matches(labels)
    assert not LabelFilter.build(audience="expert").matches(labels)
    assert not LabelFilter.build(doc_type="guideline").matches(labels)


FRONT = """---
title: "Kennel cough: a guide"
species: [dog, Puppy]
symptoms: coughing, retching  # trailing comment
# a whole-line comment
body_system: respiratory
audience: owner
doc_type: condition
source_url: https://example.org/kc
reviewed_by:
  - Dr A
  - Dr B
---
# Kennel cough

Body text.
"""


def test_front_matter_gives_labels_title_extra_fields_and_the_body() -> None:
    parsed = parse_front_matter(FRONT)
    assert parsed.title == "Kennel cough: a guide"
    assert parsed.source_url == "https://example.org/kc"
    assert parsed.labels == Labels(
        species=("dog", "puppy"),
        symptoms=("coughing", "retching"),
        body_system="respiratory",
        audience="pet-owner",
        doc_type="condition",
    )
    assert parsed.extra == {"reviewed_by": ("Dr A", "Dr B")}
    assert parsed.body == "# Kennel cough\n\nBody text.\n"
    assert FRONT[parsed.body_offset :] == parsed.body


def test_block_lists_work_for_label_fields() -> None:
    parsed = parse_front_matter("---\nspecies:\n  - dog\n  - cat\n---\nText")
    assert parsed.labels.species == ("dog", "cat")
    assert parsed.body == "Text"


def test_a_document_without_front_matter_is_all_body() -> None:
    parsed = parse_front_matter("# Title\n\n---\nnot front matter\n---\n")
    assert parsed.labels == Labels()
    assert parsed.title is None
    assert parsed.body_offset == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("---\ntitle: A\n", "not closed"),
        ("---\ntitle: A\ntitle: B\n---\n", "repeated"),
        ("---\nthis is not a pair\n---\n", "key: value"),
        ("---\n- orphan item\n---\n", "must follow"),
        ("---\naudience: everyone\n---\n", "expert"),
        ("---\nbody_system:\n  - a\n  - b\n---\n", "single value"),
    ],
)
def test_malformed_front_matter_is_refused_clearly(text: str, fragment: str) -> None:
    with pytest.raises(RuleViolation, match=fragment):
        parse_front_matter(text)


def test_every_demo_document_has_valid_labels_and_a_reasonable_length() -> None:
    documents = demo_documents()
    assert len(documents) == 12
    for document in documents:
        parsed = parse_front_matter(document.text)
        words = len(parsed.body.split())
        assert 300 <= words <= 700, (document.filename, words)
        assert parsed.title, document.filename
        assert parsed.labels.species, document.filename
        assert parsed.labels.audience in AUDIENCES, document.filename
        assert parsed.labels.body_system, document.filename
        assert parsed.labels.doc_type, document.filename
        assert parsed.body.lstrip().startswith("# "), document.filename
