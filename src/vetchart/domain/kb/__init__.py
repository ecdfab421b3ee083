"""Knowledge base and visit summaries: the text rules, pure and deterministic.

Plain Python over strings, one module per subject:

- ``labels``: the label vocabulary (``Labels``) and search filter (``LabelFilter``).
- ``front_matter``: a document's front matter (labels, title, source) and body.
- ``documents``: a document's form fields, life cycle, and settled title and labels.
- ``text``: sentence splitting, stemmed content words, shortening at a word.
- ``chunking``: a document cut into chunks under its headings.
- ``budget``: the per-document ingestion caps.
- ``retrieval``: rank fusion of the candidates, excerpts, an in-memory BM25.
- ``answers``: the extractive answer composer and its citations.
- ``summaries``: visit summaries and the keyword-cue extractor with provenance spans.
"""
