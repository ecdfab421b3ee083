"""Content sniffing: what a file is, judged from its first bytes (``filetype``'s magic
numbers), with a narrow plain-text fallback. What is *allowed* is decided by the upload
rules (``vetchart.domain.uploads``), not here."""

from __future__ import annotations

import codecs
import unicodedata

import filetype  # type: ignore[import-untyped]

from vetchart.domain.uploads import EmptyFile, UploadKind, accepted_content_type
from vetchart.services.ports.storage import HeadInspector

# Control characters plain text may contain; any other makes the content binary.
_TEXT_CONTROLS = frozenset("\t\n\r\f")
_BOM = "\ufeff"


def detect_mime(head: bytes) -> str | None:
    """The MIME type the first bytes of a file show, or None when unrecognised."""
    if not head:
        return None
    guessed = filetype.guess(head)
    if guessed is not None:
        return str(guessed.mime)
    return _text_type(head)


def _text_type(head: bytes) -> str | None:
    try:
        # Not final: a character cut in two by the end of the head is not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    text = text.removeprefix(_BOM)
    if any(_is_control(ch) for ch in text):
        return None
    opening = text.lstrip().lower()
    if opening.startswith("<"):
        # Markup is never "plain text": it is named, so a refusal can say what it saw.
        if "<svg" in opening:
            return "image/svg+xml"
        if opening.startswith("<?xml"):
            return "application/xml"
        return "text/html"
    return "text/plain"


def _is_control(ch: str) -> bool:
    # C0 and C1 controls and DEL, the Unicode category "Cc".
    return unicodedata.category(ch) == "Cc" and ch not in _TEXT_CONTROLS


def checker_for(kind: UploadKind) -> HeadInspector:
    """The ``inspect_head`` of an upload of ``kind``: the stored content type, or
    ``EmptyFile`` / ``UnsupportedMediaType`` (naming the detected type)."""

    def inspect_head(head: bytes) -> str:
        if not head:
            raise EmptyFile()
        return accepted_content_type(kind, detect_mime(head))

    return inspect_head
