"""Password rule checks for the use cases, run off the event loop.

The guessability check (zxcvbn) costs up to a few hundred milliseconds of CPU for long
passwords; a worker thread keeps other requests flowing meanwhile.
"""

from __future__ import annotations

import asyncio
from functools import partial

from vetchart.domain.passwords import GuessabilityCheck, check_password


async def validate_new_password(
    password: str, *, email: str, guessability: GuessabilityCheck, field: str = "password"
) -> str:
    """The NFC-normalised password, or ``RuleViolation`` naming the rule it breaks."""
    check = partial(check_password, password, email=email, guessability=guessability, field=field)
    return await asyncio.to_thread(check)
