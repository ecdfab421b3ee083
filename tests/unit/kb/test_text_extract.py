"""Text extraction from markdown, plain text and PDF (built in the test)."""

from __future__ import annotations

import pytest

from tests.unit.kb.pdf_builder import encrypt_pdf, make_pdf
from vetchart.adapters.text_extract import (
    DocumentTextExtractor,
    extract_text,
    markdown_to_text,
    pdf_to_text,
    plain_to_text,
)
from vetchart.domain.kb.chunking import chunk_document
from vetchart.domain.kb.front_matter import parse_front_matter
from vetchart.services.ports.ai import ExtractionFailed, TextExtractor

MARKDOWN = """---
title: Ear care
species: [dog]
---
Ear Care
========

Otitis is **very** common in dogs with _floppy_ ears and in `spaniels`.
See [the guide](https://example.org/guide) and ![an ear](ear.png) for more.
Treat-
ment takes weeks.

<div class="note">Clean <b>gently</b>.</div>

## Signs &amp; causes ##

* head shaking
+ scratching at the
  ear flap
1) discharge

| Sign | Meaning |
|------|---------|
| odour | yeast |

> A quoted line.

---

```
code block text
```
Sub heading
-----------
snake_case_name stays.
[ref]: https://example.org/ref
"""


def test_markdown_keeps_headings_and_items_and_drops_markup() -> None:
    text = markdown_to_text(MARKDOWN)
    front = parse_front_matter(text)
    assert front.title == "Ear care"
    assert front.labels.species == ("dog",)
    assert front.body.split("\n\n") == [
        "# Ear Care",
        "Otitis is very common in dogs with floppy ears and in spaniels. "
        "See the guide and an ear for more. Treatment takes weeks.",
        "Clean gently.",
        "## Signs & causes",
        "- head shaking\n- scratching at the ear flap\n1. discharge",
        "Sign; Meaning\nodour; yeast",
        "A quoted line.",
        "code block text",
        "## Sub heading",
        "snake_case_name stays.",
    ]


def test_cleaned_markdown_chunks_by_its_headings() -> None:
    body = parse_front_matter(markdown_to_text(MARKDOWN)).body
    paths = {chunk.heading_path for chunk in chunk_document(body, max_chars=200, overlap_chars=40)}
    assert ("Ear Care", "Signs & causes") in paths
    assert ("Ear Care", "Sub heading") in paths


def test_plain_text_unwraps_paragraphs_and_joins_hyphenated_words() -> None:
    raw = (
        "Kennel cough is a com-\nmon  infection of\ndogs.\r\n\r\n- rest\n- harness\n\n\n\nEnd\x00."
    )
    assert plain_to_text(raw) == (
        "Kennel cough is a common infection of dogs.\n\n- rest\n- harness\n\nEnd."
    )


def test_extract_text_detects_the_format_and_decodes_windows_1252() -> None:
    assert extract_text(b"# Title\n\nText", None) == "# Title\n\nText"
    assert (
        extract_text("caf\u00e9 na\u00efve".encode("cp1252"), "text/plain")
        == "caf\u00e9 na\u00efve"
    )
    assert extract_text(b"\xef\xbb\xbfHello\nworld", "text/plain; charset=utf-8") == "Hello world"


@pytest.mark.parametrize(
    ("data", "media_type", "reason"),
    [
        (b"", "text/plain", "empty"),
        (b"  \n ", "text/markdown", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "binary"),
        (b"<!-- -->", "text/markdown", "no text"),
    ],
)
def test_unusable_text_files_fail_clearly(data: bytes, media_type: str | None, reason: str) -> None:
    with pytest.raises(ExtractionFailed) as caught:
        extract_text(data, media_type)
    assert reason in caught.value.reason
    assert caught.value.rule == "kb.extraction_failed"


def test_pdf_text_is_extracted_cleaned_and_page_numbers_dropped() -> None:
    pdf = make_pdf(
        [
            [
                "Feline diabetes (overview)",
                "Most diabetic cats need insu-",
                "lin twice daily.",
                "1",
            ],
            ["Remission is possible with a low carbohydrate diet.", "Page 2 of 2"],
        ]
    )
    text = extract_text(pdf, "application/pdf")
    assert "Feline diabetes (overview)" in text
    assert "insulin twice daily" in text
    assert "Remission is possible with a low carbohydrate diet." in text
    assert "Page 2" not in text
    assert "\n1\n" not in f"\n{text}\n"
    assert text == pdf_to_text(pdf) == extract_text(pdf, None)


def test_a_pdf_with_only_an_owner_password_still_opens() -> None:
    pdf = encrypt_pdf(make_pdf([["Open to read."]]), user_password="", owner_password="owner")
    assert "Open to read." in extract_text(pdf, "application/pdf")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"", "empty"),
        (lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage", "damaged"),
        (lambda: make_pdf([["Readable text"]])[:120], "damaged"),
        (lambda: b"this is not a pdf at all", "not a PDF"),
        (lambda: make_pdf([[]]), "no text layer"),
        (
            lambda: encrypt_pdf(make_pdf([["Secret"]]), user_password="u", owner_password="o"),
            "password",
        ),
    ],
)
def test_bad_pdfs_raise_extraction_failed_with_a_reason(make: object, reason: str) -> None:
    data = make()  # type: ignore[operator]
    with pytest.raises(ExtractionFailed) as caught:
        pdf_to_text(data)
    assert reason in caught.value.reason
    assert reason in caught.value.detail


def test_the_extractor_class_is_the_port() -> None:
    extractor: TextExtractor = DocumentTextExtractor()
    assert extractor.extract(b"Plain words.", "text/plain") == "Plain words."
