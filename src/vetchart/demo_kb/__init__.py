"""Demo veterinary reference documents (original text written for vetchart).

Each ``*.md`` file starts with a front-matter block of labels (see
``vetchart.domain.kb.front_matter.parse_front_matter``). They seed the knowledge base in
development and are the fixture of the retrieval-quality tests (``tests/kb_questions.py``).
They are general reference text for demos, not clinical guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class DemoDocument:
    filename: str
    text: str


def demo_documents() -> list[DemoDocument]:
    """Every demo document, sorted by file name."""
    folder = resources.files(__name__)
    return [
        DemoDocument(entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".md")
    ]
