"""The Redis settings of a scaled-out deployment (docs/operations.md, "Scaling out"): the key
prefix from VETCHART_REDIS_PREFIX, and the principal cache's bound of 2 s."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vetchart.config import AuthSettings, RedisSettings


def test_the_prefix_defaults_to_vetchart_and_names_every_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VETCHART_REDIS_PREFIX", raising=False)
    assert RedisSettings().key("limits") == "vetchart:limits"
    monkeypatch.setenv("VETCHART_REDIS_PREFIX", "clinic-eu.1")
    assert RedisSettings().key("sessions") == "clinic-eu.1:sessions"


@pytest.mark.parametrize("bad", ["", "has space", "star*", "x" * 65])
def test_a_prefix_that_could_match_other_keys_is_refused(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("VETCHART_REDIS_PREFIX", bad)
    with pytest.raises(ValidationError):
        RedisSettings()


def test_the_session_cache_is_at_most_two_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETCHART_SESSION_CACHE_SECONDS", "2")
    assert AuthSettings().session_cache_seconds == 2
    monkeypatch.setenv("VETCHART_SESSION_CACHE_SECONDS", "2.5")
    with pytest.raises(ValidationError):
        AuthSettings()
