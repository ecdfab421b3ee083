"""Text rules shared by chunking, retrieval, answers and summaries: sentence splitting
(``sentence_spans``), the content words of a text for matching (``terms``, with a light
English stemmer and stop words), and shortening at a word (``shorten``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final

_ABBREVIATIONS: Final = frozenset(
    {"e.g", "i.e", "eg", "ie", "dr", "mr", "mrs", "ms", "prof", "st", "vs", "approx", "fig"}
    | {"no", "cf", "al", "inc", "ltd", "resp", "ca", "incl", "esp", "dept", "vet"}
)
_SENTENCE_END_RE: Final = re.compile(r"[.!?]+[\"')\]\u201d\u2019]*(?=\s|$)")
_BULLET_RE: Final = re.compile(r"(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+")
_SENTENCE_STARTERS: Final = "\"'([\u201c\u2018"


def skip_space(text: str, pos: int, end: int) -> int:
    """The first position from ``pos`` (before ``end``) that is not whitespace."""
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` narrowed to leave out whitespace at both ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_abbreviation(text: str, line_start: int, dot: int) -> bool:
    word_start = dot
    while word_start > line_start and not text[word_start - 1].isspace():
        word_start -= 1
    token = text[word_start:dot].lstrip("([\"'").lower()
    if token in _ABBREVIATIONS:
        return True
    # A single initial ("J. Smith") is not the end of a sentence.
    return len(token) == 1 and token.isalpha() and text[dot - 1].isupper()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, in order, trimmed, never empty.

    Each line is a block of its own (cleaned text keeps one paragraph or list item per
    line); a leading list marker is left out of the span. Inside a line, a sentence
    ends at ``.``, ``!`` or ``?`` (and closing quotes) followed by a space and an
    upper-case letter, a digit or an opening quote, except after known abbreviations
    and single initials.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        line_start, line_end = line.span()
        start = skip_space(text, line_start, line_end)
        bullet = _BULLET_RE.match(text, start, line_end)
        if bullet is not None:
            start = bullet.end()
        for end_match in _SENTENCE_END_RE.finditer(text, start, line_end):
            end = end_match.end()
            following = skip_space(text, end, line_end)
            if following < line_end:
                char = text[following]
                if not (char.isupper() or char.isdigit() or char in _SENTENCE_STARTERS):
                    continue
            if text[end_match.start()] == "." and _is_abbreviation(
                text, line_start, end_match.start()
            ):
                continue
            span = trim_span(text, start, end)
            if span[0] < span[1]:
                spans.append(span)
            start = following
        span = trim_span(text, start, line_end)
        if span[0] < span[1]:
            spans.append(span)
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


_STOP_WORDS_TEXT: Final = """
    a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each few for from further had has have having he her here hers herself him himself
    his how i if in into is it its itself just let me more most my myself no nor not of
    off on once only or other our ours ourselves out over own same she should so some
    such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves also may might must shall
    ought get gets got tell know please thing things way ok okay yes one two"""
STOP_WORDS: Final = frozenset(_STOP_WORDS_TEXT.split())
_WORD_RE: Final = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SPELLING: Final[Mapping[str, str]] = {
    "teeth": "tooth",
    "feet": "foot",
    "mice": "mouse",
    "children": "child",
    "faeces": "feces",
    "faecal": "fecal",
    "oedema": "edema",
    "oesophagus": "esophagus",
    "oestrus": "estrus",
    "paediatric": "pediatric",
    "behaviour": "behavior",
    "behaviours": "behavior",
    "tumour": "tumor",
    "tumours": "tumor",
    "colour": "color",
    "odour": "odor",
    "grey": "gray",
}
_SPELLING_FRAGMENTS: Final = (
    ("rrhoea", "rrhea"),
    ("anaem", "anem"),
    ("haem", "hem"),
    ("aesthe", "esthe"),
    ("leukaem", "leukem"),
    ("glycaem", "glycem"),
)
_VOWELS: Final = frozenset("aeiouy")
_STEP2: Final = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("isation", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("ness", ""),
    ("ment", ""),
    ("ically", "ic"),
    ("ally", "al"),
    ("ly", ""),
    ("ity", ""),
)
_STEP3: Final = ("ary", "ate", "ize", "ise", "ive", "ous", "ful", "ic", "al", "ion", "y", "e")


def _has_vowel(stem: str) -> bool:
    return any(char in _VOWELS for char in stem)


def stem(word: str) -> str:
    """A light, deterministic English stemmer (a much-reduced Porter): enough that
    "vaccination", "vaccinate", "vaccinated" and "vaccines" meet, and British and
    American spellings of common clinical words too. Only for matching, never shown."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = _SPELLING.get(w, w)
    for british, american in _SPELLING_FRAGMENTS:
        w = w.replace(british, american)
    if len(w) <= 3 or w.isdigit():
        return w
    # Step 1: plurals and -ed/-ing.
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed"):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and _has_vowel(base):
            w = base
            if w.endswith(("at", "bl", "iz", "is")):
                w += "e"
            elif len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" + "aeiou":
                w = w[:-1]
            break
    # Step 2: derivational suffixes to a common form.
    for suffix, replacement in _STEP2:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + replacement
            break
    # Step 3: drop a final suffix when a substantial stem remains.
    for suffix in _STEP3:
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            if suffix == "ion" and w[-4] not in "st":
                continue
            w = w[: -len(suffix)]
            break
    return w


def terms(text: str) -> list[str]:
    """Stemmed content words of ``text``, in order (stop words and 1-letter words out)."""
    normalized = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return [
        stem(word)
        for word in _WORD_RE.findall(normalized)
        if len(word) > 1 and word not in STOP_WORDS and word.split("'")[0] not in STOP_WORDS
    ]


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters; else cut at a word (or at ``limit``
    when the last space is in the first half), trailing punctuation dropped, and an
    ellipsis added."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:-") + "\u2026"
