"""Unit tests of the password rules (NIST SP 800-63B rev 4) with the real zxcvbn-based
guessability check, and of the Argon2id hasher."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vetchart.adapters.security import passwords as hashing
from vetchart.adapters.security.passwords import Argon2Hasher, blocklist, zxcvbn_guessability
from vetchart.domain.errors import RuleViolation
from vetchart.domain.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_password,
    normalize_password,
)

EMAIL = "alice.smith@example.org"


def check(password: str, email: str = EMAIL) -> str:
    return check_password(password, email=email, guessability=zxcvbn_guessability)


def refusal(password: str, email: str = EMAIL) -> str:
    with pytest.raises(RuleViolation) as caught:
        check(password, email)
    assert caught.value.field == "password"
    assert caught.value.extra["rule"] == caught.value.rule
    return caught.value.rule


def _passphrase(length: int) -> str:
    words = "copper lantern orbits quietly above a sleepy marsh while seven herons argue"
    text = " ".join(words.split() * 20)
    return text[:length]


PASSPHRASE_128 = _passphrase(128)
PASSPHRASE_256 = _passphrase(256)


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "purple elephant dances quietly",
        "mango tractor violin seashell",
        "Grüße aus Köln, zwölf Äpfel essen",
        "вкусный борщ на обед каждый день",
        "日本語のパスワードはとても長いです安全",
        "ŝerco kaj ĝojo ĉiam ĵaŭde",
        "🦊 renard 🐾 dans la forêt enneigée",
        PASSPHRASE_128,
        PASSPHRASE_256,
    ],
    ids=lambda p: f"{p[:20]}..({len(p)})",
)
def test_good_passphrases_are_accepted_unchanged(password: str) -> None:
    assert check(password) == password


def test_passphrase_lengths_of_the_long_cases() -> None:
    assert len(PASSPHRASE_128) == 128
    assert len(PASSPHRASE_256) == MAX_PASSWORD_LENGTH == 256


def test_no_composition_rules_all_lowercase_words_are_fine() -> None:
    password = "tangerine submarine whistles gently"
    assert password == password.lower()
    assert not any(ch.isdigit() for ch in password)
    assert check(password) == password


def test_exactly_the_minimum_length_is_enough() -> None:
    password = "Kq7#vZ2!mW9@pL4"
    assert len(password) == MIN_PASSWORD_LENGTH
    assert check(password) == password


def test_a_long_patterned_prefix_does_not_hide_a_strong_rest() -> None:
    # Longer than zxcvbn's own input limit (72): judged whole, never truncated.
    password = "a" * 80 + " copper lantern orbits quietly"
    assert check(password) == password


def test_a_long_password_made_only_of_patterns_is_refused() -> None:
    assert refusal("ab" * 128) in {"password.patterned", "password.blocklisted"}
    assert refusal("1qaz2wsx" * 32) in {"password.patterned", "password.blocklisted"}


# ---------------------------------------------------------------- normalisation


def test_composed_and_decomposed_forms_normalise_to_the_same_value() -> None:
    composed = "crème brûlée à la française, s'il vous plaît"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert normalize_password(composed) == normalize_password(decomposed) == composed
    assert check(composed) == check(decomposed) == composed


def test_length_is_counted_after_normalisation() -> None:
    # 15 "é" written decomposed are 30 code points, yet 15 characters once normalised.
    decomposed = "e\u0301" * 14 + "x"
    assert len(decomposed) == 29
    assert len(normalize_password(decomposed)) == 15
    # It is long enough (a repeat, so refused, but not as too short).
    assert refusal(decomposed) != "password.too_short"


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize("length", [0, 1, 8, 14])
def test_too_short(length: int) -> None:
    assert refusal("Zq8#mW4!pL2@vK7$"[:length]) == "password.too_short"


def test_too_short_is_counted_in_characters_not_bytes() -> None:
    password = "ñ日🦊ü語ç漢ß字é"  # 10 characters, many more bytes
    assert len(password) == 10
    assert len(password.encode("utf-8")) >= MIN_PASSWORD_LENGTH
    assert refusal(password) == "password.too_short"
    # ... and 15 multi-byte characters are long enough.
    assert check("ñ日🦊ü語ç漢ß字é雪山花月風") == "ñ日🦊ü語ç漢ß字é雪山花月風"


def test_too_long() -> None:
    assert refusal(_passphrase(256) + "x") == "password.too_long"
    assert refusal("x" * 10_000) == "password.too_long"


@pytest.mark.parametrize(
    "password",
    [
        "my name is alice.smith and I like tea",
        "ALICE.SMITH rides a purple bicycle",
        "purple bicycles for Alice.Smith!",
    ],
)
def test_containing_the_email_name_is_refused(password: str) -> None:
    assert refusal(password) == "password.contains_email"


def test_email_name_check_uses_the_given_email() -> None:
    assert refusal("bob the builder plays chess", email="Bob@example.org") == (
        "password.contains_email"
    )
    # The domain part is not the name: it may appear.
    assert check("example org copper lanterns glow") == "example org copper lanterns glow"


@pytest.mark.parametrize(
    "password",
    ["my vetchart login is great", "VetChart purple elephants", "xxVETCHARTxx copper lanterns"],
)
def test_containing_the_product_name_is_refused(password: str) -> None:
    assert refusal(password) == "password.contains_product_name"


def test_blocklist_has_at_least_ten_thousand_entries() -> None:
    assert len(blocklist()) >= 10_000


LONG_BLOCKLISTED = sorted(w for w in blocklist() if len(w) >= MIN_PASSWORD_LENGTH)[:12]


def test_there_are_long_blocklisted_passwords_to_test_with() -> None:
    assert len(LONG_BLOCKLISTED) >= 10


@pytest.mark.parametrize("password", LONG_BLOCKLISTED)
def test_blocklisted_passwords_are_refused(password: str) -> None:
    assert refusal(password) == "password.blocklisted"


def test_blocklist_comparison_ignores_case() -> None:
    assert refusal(LONG_BLOCKLISTED[-1].upper()) == "password.blocklisted"


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaaaaaaaaaaaa", "abcdefghijklmnopqrstu", "zyxwvutsrqponmlkjih"]
)
def test_trivial_patterns_are_named_patterned(password: str) -> None:
    assert refusal(password) == "password.patterned"


@pytest.mark.parametrize(
    "password",
    [
        "111111111111111111",
        "abcabcabcabcabcabc",
        "passwordpassword",
        "1234567890123456789",
        "qwertyuiopasdfghjkl",
        "qazwsxedcrfvtgbyhn",
        "1qaz2wsx3edc4rfv5tgb",
        "asdfghjklasdfghjkl",
        "0987654321098765",
    ],
)
def test_repeats_sequences_and_keyboard_runs_are_never_accepted(password: str) -> None:
    assert len(password) >= MIN_PASSWORD_LENGTH
    assert refusal(password) in {"password.patterned", "password.blocklisted"}


def test_each_refusal_names_its_reason_in_the_detail() -> None:
    with pytest.raises(RuleViolation) as caught:
        check("aaaaaaaaaaaaaaaaaaaa")
    assert "repeated" in caught.value.detail


def test_field_name_is_reported_as_given() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_password("short", email=EMAIL, guessability=zxcvbn_guessability, field="new_password")
    assert caught.value.field == "new_password"
    assert caught.value.extra["field"] == "new_password"


# ---------------------------------------------------------------- properties

_fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(st.text(max_size=MIN_PASSWORD_LENGTH - 1))
def test_property_anything_shorter_than_the_minimum_is_too_short(password: str) -> None:
    # Length is counted on the normalised form; NFC only rarely lengthens a string
    # (composition exclusions such as U+0958), which is then judged on its real length.
    assume(len(unicodedata.normalize("NFC", password)) < MIN_PASSWORD_LENGTH)
    assert refusal(password) == "password.too_short"


@_fast
@given(st.text(min_size=MIN_PASSWORD_LENGTH, max_size=60))
def test_property_an_accepted_password_is_its_nfc_form_and_nothing_else(password: str) -> None:
    try:
        accepted = check(password)
    except RuleViolation as error:
        refused_rule: str | None = error.rule
    else:
        refused_rule = None
    if refused_rule is not None:
        assert refused_rule.startswith("password.")
        return
    assert accepted == unicodedata.normalize("NFC", password)
    assert len(accepted) >= MIN_PASSWORD_LENGTH


@_fast
@given(st.text(min_size=MIN_PASSWORD_LENGTH, max_size=MAX_PASSWORD_LENGTH))
def test_property_the_guessability_check_never_crashes(password: str) -> None:
    # Any Unicode, any length the rules allow: a verdict, never an exception.
    zxcvbn_guessability(password, ["alice.smith", "vetchart"])


# ---------------------------------------------------------------- Argon2id

CHEAP = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1, "max_concurrency": 2}


@pytest.fixture
async def hasher() -> AsyncIterator[Argon2Hasher]:
    hasher = Argon2Hasher(**CHEAP)
    yield hasher
    await hasher.aclose()


async def test_hash_and_verify_roundtrip(hasher: Argon2Hasher) -> None:
    password = "copper lantern orbits quietly ☂"
    encoded = await hasher.hash(password)
    assert encoded.startswith("$argon2id$")
    assert password not in encoded
    assert await hasher.verify(encoded, password) is True
    assert hasher.needs_rehash(encoded) is False


async def test_hashes_are_salted(hasher: Argon2Hasher) -> None:
    assert await hasher.hash("same password twice!") != await hasher.hash("same password twice!")


async def test_wrong_password_is_false(hasher: Argon2Hasher) -> None:
    encoded = await hasher.hash("copper lantern orbits quietly")
    assert await hasher.verify(encoded, "copper lantern orbits quietlY") is False
    assert await hasher.verify(encoded, "copper lantern orbits quietly ") is False
    assert await hasher.verify(encoded, "") is False


async def test_password_is_compared_whole_not_truncated(hasher: Argon2Hasher) -> None:
    long_password = _passphrase(256)
    encoded = await hasher.hash(long_password)
    assert await hasher.verify(encoded, long_password) is True
    assert await hasher.verify(encoded, long_password[:-1] + "!") is False
    assert await hasher.verify(encoded, long_password[:72]) is False


@pytest.mark.parametrize(
    "garbage",
    ["", "not a hash", "$argon2id$v=19$m=8192,t=1,p=1$garbage$garbage", "$2b$12$" + "a" * 53],
)
async def test_garbage_hash_is_false(hasher: Argon2Hasher, garbage: str) -> None:
    assert await hasher.verify(garbage, "copper lantern orbits quietly") is False


async def test_needs_rehash_after_parameters_change(hasher: Argon2Hasher) -> None:
    encoded = await hasher.hash("copper lantern orbits quietly")
    stronger = Argon2Hasher(
        time_cost=2, memory_kib=8192, parallelism=1, max_concurrency=1, executor="thread"
    )
    assert stronger.parameters == {"time_cost": 2, "memory_kib": 8192, "parallelism": 1}
    assert stronger.needs_rehash(encoded) is True
    # An old hash still verifies, so the login can re-hash it transparently.
    assert await stronger.verify(encoded, "copper lantern orbits quietly") is True
    assert stronger.needs_rehash(await stronger.hash("copper lantern orbits quietly")) is False
    await stronger.aclose()
    more_memory = Argon2Hasher(time_cost=1, memory_kib=16384, parallelism=1, max_concurrency=1)
    assert more_memory.needs_rehash(encoded) is True


def test_needs_rehash_of_garbage_is_true(hasher: Argon2Hasher) -> None:
    assert hasher.needs_rehash("not a hash") is True


async def test_verify_dummy_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # It spends a real Argon2 verification on an Argon2id hash of this hasher's parameters
    # (timing parity for unknown accounts) and never raises, whatever the password.
    verified: list[tuple[str, bool]] = []
    real = hashing.verify_password

    def spy(password_hash: str, password: str) -> bool:
        result = real(password_hash, password)
        verified.append((password_hash, result))
        return result

    # A thread pool, so the spy set here is the function the worker runs.
    hasher = Argon2Hasher(**{**CHEAP, "executor": "thread"})
    monkeypatch.setattr(hashing, "verify_password", spy)
    for password in ["whatever the caller typed", "", "x" * 1000]:
        await hasher.verify_dummy(password)
    await hasher.aclose()
    assert [ok for _, ok in verified] == [False, False, False]
    dummy_hash = verified[0][0]
    assert dummy_hash.startswith("$argon2id$")
    assert hasher.needs_rehash(dummy_hash) is False
