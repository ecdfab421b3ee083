"""Password hashing (Argon2id, argon2-cffi) and guessability checks (zxcvbn).

Hashing runs in worker threads (argon2-cffi releases the GIL while hashing), bounded by a
semaphore so a burst of logins cannot take every thread or stall the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
from functools import lru_cache

from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from vetchart.domain.passwords import GuessabilityVerdict, Weakness

# zxcvbn's score 3 means "safely unguessable: moderate protection from offline attacks"
# (about 10^8 to 10^10 guesses); below it the password is made of predictable parts.
MIN_ZXCVBN_SCORE = 3
PATTERN_KINDS = {
    "repeat": "repeated characters",
    "sequence": "a sequence",
    "spatial": "a keyboard run",
}
# The longest input zxcvbn accepts (its own default limit).
ZXCVBN_MAX_LENGTH = 72


class Argon2Hasher:
    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, max_concurrency: int
    ) -> None:
        self._argon2 = Argon2(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        self._dummy_hash = self._argon2.hash("vetchart dummy password for unknown accounts")

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "time_cost": self._argon2.time_cost,
            "memory_kib": self._argon2.memory_cost,
            "parallelism": self._argon2.parallelism,
        }

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_dummy(self, password: str) -> None:
        await self.verify(self._dummy_hash, password)


@lru_cache(maxsize=1)
def blocklist() -> frozenset[str]:
    """The common/breached password list shipped with zxcvbn (30,000 entries)."""
    return frozenset(FREQUENCY_LISTS["passwords"])


# Keyboard rows (QWERTY, QWERTZ, AZERTY) and the digit row. Neighbours on a row, and the
# end of a row with the start of the next, are "adjacent": a walk along them is a run.
KEYBOARD_ROWS = (
    ("1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"),
    ("1234567890", "qwertzuiop", "asdfghjkl", "yxcvbnm"),
    ("1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn"),
)
MIN_RUN = 4
# A password mostly made of keyboard runs is patterned, whatever zxcvbn scores it.
MAX_RUN_COVERAGE = 0.75


@lru_cache(maxsize=1)
def _adjacent_keys() -> frozenset[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for layout in KEYBOARD_ROWS:
        for row in layout:
            pairs.update(frozenset(pair) for pair in itertools.pairwise(row))
        for upper, lower in itertools.pairwise(layout):
            pairs.add(frozenset((upper[-1], lower[0])))
    return frozenset(pairs)


def keyboard_run_coverage(password: str) -> float:
    """The share of characters that sit in walks of at least MIN_RUN adjacent keys."""
    text = [ch for ch in password.casefold() if not ch.isspace()]
    if not text:
        return 0.0
    adjacent = _adjacent_keys()
    covered = 0
    run = 1
    for previous, current in itertools.pairwise(text):
        if frozenset((previous, current)) in adjacent:
            run += 1
            continue
        covered += run if run >= MIN_RUN else 0
        run = 1
    covered += run if run >= MIN_RUN else 0
    return covered / len(text)


def zxcvbn_guessability(password: str, user_inputs: list[str]) -> GuessabilityVerdict:
    """Blocklisted or trivially patterned passwords, judged with zxcvbn's matchers.

    zxcvbn refuses input longer than ``ZXCVBN_MAX_LENGTH`` (its matchers are super-linear:
    seconds of CPU for a patterned 256-character string), so a longer password is judged
    in consecutive pieces of at most that length. Guessing the whole means guessing every
    piece, so one strong piece makes the whole strong; it is refused only when no piece is.
    The blocklist is always compared against the whole password.
    """
    folded = password.casefold()
    if folded in blocklist():
        return GuessabilityVerdict(Weakness.BLOCKLISTED, "a common password")
    if keyboard_run_coverage(password) >= MAX_RUN_COVERAGE:
        return GuessabilityVerdict(Weakness.PATTERNED, "a keyboard run")
    kinds: list[str] = []
    for start in range(0, max(len(password), 1), ZXCVBN_MAX_LENGTH):
        piece = password[start : start + ZXCVBN_MAX_LENGTH]
        result = zxcvbn(piece, user_inputs=user_inputs, max_length=ZXCVBN_MAX_LENGTH)
        if result["score"] >= MIN_ZXCVBN_SCORE:
            return GuessabilityVerdict(None)
        kinds.extend(
            PATTERN_KINDS[m["pattern"]] for m in result["sequence"] if m["pattern"] in PATTERN_KINDS
        )
    if kinds:
        return GuessabilityVerdict(Weakness.PATTERNED, ", ".join(dict.fromkeys(kinds)))
    return GuessabilityVerdict(Weakness.BLOCKLISTED, "made of common passwords or words")
