"""Service-level unit tests on the in-memory fakes (tests/fixtures/fakes.py)."""
