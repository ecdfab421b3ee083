"""Text of uploaded reference documents: markdown, plain text and PDF → clean text.

The result keeps markdown ATX headings (``## Title``) and list items (``- item``), one
paragraph or item per line with blank lines between blocks, so that the domain's
chunker and sentence splitter can use the structure. Everything else of markdown
(emphasis, links, images, code fences, HTML, tables' pipes) is reduced to its text.
A leading front-matter block (``---`` … ``---``) is kept verbatim for the domain's
``parse_front_matter``.
"""

from __future__ import annotations

import html
import io
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Final

from vetchart.domain.errors import RuleViolation
from vetchart.domain.kb.budget import IngestBudget
from vetchart.services.ports.ai import ExtractionFailed

MARKDOWN_TYPES: Final = frozenset({"text/markdown", "text/x-markdown"})
PLAIN_TYPES: Final = frozenset({"text/plain"})
PDF_TYPES: Final = frozenset({"application/pdf", "application/x-pdf"})
MIN_TEXT_CHARS: Final = 1

_PDF_MAGIC: Final = b"%PDF-"
_INVISIBLE: Final = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None
)  # zero-width characters and soft hyphens
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES_RE: Final = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_HYPHEN_BREAK_RE: Final = re.compile(r"([a-z])-[ \t]*\n[ \t]*([a-z])")
_HEADING_RE: Final = re.compile(r"(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
_SETEXT_RE: Final = re.compile(r"(=+|-+)[ \t]*")
_BULLET_RE: Final = re.compile(r"([ \t]*)(?:[-*+\u2022])[ \t]+(.*)")
_NUMBERED_RE: Final = re.compile(r"([ \t]*)(\d{1,3})[.)][ \t]+(.*)")
_RULE_RE: Final = re.compile(r"[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})")
_TABLE_SEPARATOR_RE: Final = re.compile(
    r"[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*"
)
_FENCE_RE: Final = re.compile(r"[ \t]*(```|~~~)")
_LINK_REF_DEF_RE: Final = re.compile(r"[ \t]{0,3}\[[^\]]+\]:[ \t]*\S+.*")
_PAGE_NUMBER_RE: Final = re.compile(r"(?:page[ \t]+)?\d{1,4}(?:[ \t]*(?:/|of)[ \t]*\d{1,4})?", re.I)

_INLINE_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images → alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links → their text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # autolinks
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), ""),  # HTML tags
    (re.compile(r"`([^`]*)`"), r"\1"),  # inline code
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # emphasis
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # strikethrough
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),  # escapes
)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ExtractionFailed("the file is binary, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older documents are often Windows-1252; it decodes nearly any byte string,
        # so binary content was refused above.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise ExtractionFailed("the text encoding is not UTF-8 or Windows-1252") from exc
    return text


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.translate(_INVISIBLE).replace("\f", "\n\n")
    text = _CONTROL_RE.sub("", text.replace("\t", " "))
    return "\n".join(_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))


def _dehyphenate(text: str) -> str:
    """Join words broken across lines with a hyphen ("treat-\\nment" → "treatment")."""
    return _HYPHEN_BREAK_RE.sub(r"\1\2", text)


def _split_front_matter(text: str) -> tuple[str, str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return "", text
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[: index + 1]) + "\n", "\n".join(lines[index + 1 :])
    return "", text


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE_RULES:
        text = pattern.sub(replacement, text)
    return html.unescape(text)


def _blocks_to_text(blocks: list[str]) -> str:
    text = "\n\n".join(block for block in blocks if block.strip())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _BlockBuilder:
    """Collects output blocks: a paragraph gathers wrapped lines into one line; list
    items and headings are blocks of their own (adjacent list items stay together)."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._paragraph: list[str] = []
        self._items: list[str] = []

    def _flush_paragraph(self) -> None:
        if self._paragraph:
            self.blocks.append(" ".join(self._paragraph))
            self._paragraph = []

    def _flush_items(self) -> None:
        if self._items:
            self.blocks.append("\n".join(self._items))
            self._items = []

    def flush(self) -> None:
        self._flush_paragraph()
        self._flush_items()

    def line(self, text: str) -> None:
        if self._items:
            # A wrapped continuation of the last list item.
            self._items[-1] = f"{self._items[-1]} {text}"
        else:
            self._paragraph.append(text)

    def item(self, text: str) -> None:
        self._flush_paragraph()
        self._items.append(text)

    def block(self, text: str) -> None:
        self.flush()
        self.blocks.append(text)

    def at_block_start(self) -> bool:
        return not self._paragraph and not self._items


def markdown_to_text(markdown: str) -> str:
    """Clean text of a markdown document (see the module docstring)."""
    front, body = _split_front_matter(_normalize(markdown))
    body = _dehyphenate(body)
    lines = body.split("\n")
    out = _BlockBuilder()
    in_fence = False
    for index, raw in enumerate(lines):
        if _FENCE_RE.match(raw):
            out.flush()
            in_fence = not in_fence
            continue
        if in_fence:
            if raw.strip():
                out.line(raw.strip())
            else:
                out.flush()
            continue
        line = raw.strip()
        while line.startswith(">"):
            line = line[1:].strip()
        if not line:
            out.flush()
            continue
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            _SETEXT_RE.fullmatch(next_line)
            and not _RULE_RE.fullmatch(line)
            and out.at_block_start()
        ):
            level = "#" if next_line.lstrip().startswith("=") else "##"
            out.block(f"{level} {_inline(line)}")
            lines[index + 1] = ""
            continue
        if _LINK_REF_DEF_RE.fullmatch(raw) or _TABLE_SEPARATOR_RE.fullmatch(line):
            continue
        if _RULE_RE.fullmatch(line):
            out.flush()
            continue
        heading = _HEADING_RE.fullmatch(line)
        if heading is not None:
            title = _inline(heading.group(2)).strip()
            if title:
                out.block(f"{heading.group(1)} {title}")
            continue
        if _list_item(line, out, _inline):
            continue
        if line.startswith("|") and line.endswith("|"):
            cells = [_inline(cell).strip() for cell in line.strip("|").split("|")]
            out.item("; ".join(cell for cell in cells if cell))
        else:
            out.line(_inline(line))
    out.flush()
    return front + _blocks_to_text(out.blocks)


def _list_item(line: str, out: _BlockBuilder, clean: Callable[[str], str]) -> bool:
    """A bullet or numbered line, kept as its own item (its text through ``clean``)."""
    bullet = _BULLET_RE.fullmatch(line)
    if bullet is not None:
        out.item(f"- {clean(bullet.group(2)).strip()}")
        return True
    numbered = _NUMBERED_RE.fullmatch(line)
    if numbered is not None:
        out.item(f"{numbered.group(2)}. {clean(numbered.group(3)).strip()}")
        return True
    return False


def plain_to_text(text: str, *, drop_page_numbers: bool = False) -> str:
    """Clean plain text: normalized spaces, hyphenated line breaks joined, wrapped lines of
    a paragraph joined; list-like lines kept as their own lines."""
    normalized = _dehyphenate(_normalize(text))
    out = _BlockBuilder()
    for line in normalized.split("\n"):
        if not line:
            out.flush()
            continue
        if drop_page_numbers and _PAGE_NUMBER_RE.fullmatch(line):
            continue
        if not _list_item(line, out, str):
            out.line(line)
    out.flush()
    return _blocks_to_text(out.blocks)


def _no_deadline() -> None:
    return None


def pdf_to_text(
    data: bytes,
    *,
    budget: IngestBudget | None = None,
    check_time: Callable[[], None] = _no_deadline,
) -> str:
    """The text layer of a PDF, cleaned like plain text, pages separated by blank lines.

    Raises ``ExtractionFailed`` for an empty, corrupt or password-protected file, or one
    without a text layer (a scan needs OCR); ``IngestBudgetExceeded`` for one with more
    pages than the budget allows (counted before any page is read), more characters
    (counted page by page, reading stops there), or when ``check_time`` says the time is
    up (checked after each page).
    """
    budget = budget or IngestBudget()
    # Imported here: pypdf is only needed when a PDF arrives.
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    if not data.strip():
        raise ExtractionFailed("the PDF file is empty")
    if _PDF_MAGIC not in data[:1024]:
        raise ExtractionFailed("the file is not a PDF")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Files restricted only by an owner password open with an empty password.
            try:
                opened = reader.decrypt("")
            except (PyPdfError, NotImplementedError) as exc:
                raise ExtractionFailed("the PDF is encrypted") from exc
            if not opened:
                raise ExtractionFailed("the PDF is password-protected")
        budget.check_pages(len(reader.pages))
        pages: list[str] = []
        read = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            read += len(pages[-1])
            budget.check_chars(read)
            check_time()
    except RuleViolation:  # ExtractionFailed and IngestBudgetExceeded
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionFailed("the PDF is password-protected") from exc
    except Exception as exc:
        # pypdf raises many kinds of errors on malformed input (PdfReadError,
        # ValueError, KeyError, ...); for an upload they all mean the same thing.
        raise ExtractionFailed("the PDF is damaged or not a valid PDF") from exc
    text = "\n\n".join(plain_to_text(page, drop_page_numbers=True) for page in pages)
    text = _blocks_to_text(text.split("\n\n"))
    if len(text.strip()) < MIN_TEXT_CHARS:
        raise ExtractionFailed("the PDF has no text layer (a scanned document needs OCR)")
    return text


def _looks_like_markdown(text: str) -> bool:
    return bool(re.search(r"^(?:#{1,6} |---\s*$|[-*] |\d+\. )", text, re.M))


def extract_text(
    data: bytes,
    media_type: str | None = None,
    *,
    budget: IngestBudget | None = None,
    check_time: Callable[[], None] = _no_deadline,
) -> str:
    """Clean text of a document; the type comes from ``media_type`` or the content.

    Raises ``ExtractionFailed`` when nothing usable can be read, ``IngestBudgetExceeded``
    when the document is past the budget's pages or characters (the characters of a text
    file are counted once decoded, before any cleaning) or its time.
    """
    budget = budget or IngestBudget()
    kind = (media_type or "").split(";")[0].strip().lower()
    if kind in PDF_TYPES or data.lstrip()[:8].startswith(_PDF_MAGIC):
        return pdf_to_text(data, budget=budget, check_time=check_time)
    if not data.strip():
        raise ExtractionFailed("the file is empty")
    text = _decode(data)
    budget.check_chars(len(text))
    if kind in MARKDOWN_TYPES or (kind not in PLAIN_TYPES and _looks_like_markdown(text)):
        cleaned = markdown_to_text(text)
    else:
        cleaned = plain_to_text(text)
    if not cleaned.strip():
        raise ExtractionFailed("the file has no text")
    return cleaned


class DocumentTextExtractor:
    """The ``TextExtractor`` port over :func:`extract_text`, within an ingestion budget
    (pages, characters, and the budget's seconds for this extraction, measured with
    ``monotonic``)."""

    def __init__(
        self,
        budget: IngestBudget | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._budget = budget or IngestBudget()
        self._monotonic = monotonic

    def extract(self, data: bytes, media_type: str | None = None) -> str:
        check_time = self._budget.deadline(self._monotonic)
        return extract_text(data, media_type, budget=self._budget, check_time=check_time)
