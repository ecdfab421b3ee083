"""Password rules (NIST SP 800-63B rev 4, section 3.1.1.2).

At least 15 characters, up to 256; any Unicode, NFC-normalised and compared whole (never
truncated); no composition rules. Refused: passwords on the blocklist of common/breached
passwords, trivially patterned ones (repeats, keyboard runs, sequences), and ones that
contain the user's email name or the product name. Each refusal names its rule.

The blocklist and pattern detection are injected (``GuessabilityCheck``) so that the
domain stays free of libraries; the adapter uses zxcvbn's lists and matchers.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from vetchart.domain.errors import RuleViolation

MIN_PASSWORD_LENGTH = 15
MAX_PASSWORD_LENGTH = 256
PRODUCT_NAME = "vetchart"
# Email names shorter than this are too common a substring to forbid.
MIN_EMAIL_NAME_LENGTH = 3


class Weakness(enum.StrEnum):
    BLOCKLISTED = "blocklisted"
    PATTERNED = "patterned"


# What the refusal of a weak password says, before and after the checker's explanation.
_WEAKNESS_SENTENCES: dict[Weakness, tuple[str, str]] = {
    Weakness.BLOCKLISTED: ("The password is on the blocklist of common or breached passwords", "."),
    Weakness.PATTERNED: (
        "The password follows a trivial pattern",
        "; choose something less predictable.",
    ),
}


@dataclass(frozen=True)
class GuessabilityVerdict:
    weakness: Weakness | None
    explanation: str = ""


GuessabilityCheck = Callable[[str, list[str]], GuessabilityVerdict]


def normalize_password(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def _fail(rule: str, detail: str, field: str) -> RuleViolation:
    return RuleViolation(detail, rule=f"password.{rule}", field=field)


def check_password(
    password: str,
    *,
    email: str,
    guessability: GuessabilityCheck,
    field: str = "password",
) -> str:
    """Return the NFC-normalised password, or raise ``RuleViolation`` naming the rule."""
    value = normalize_password(password)
    length = len(value)
    if length < MIN_PASSWORD_LENGTH:
        raise _fail(
            "too_short",
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            "(a few unrelated words work well).",
            field,
        )
    if length > MAX_PASSWORD_LENGTH:
        raise _fail(
            "too_long", f"The password is longer than {MAX_PASSWORD_LENGTH} characters.", field
        )
    folded = value.casefold()
    email_name = email.partition("@")[0].casefold()
    if len(email_name) >= MIN_EMAIL_NAME_LENGTH and email_name in folded:
        raise _fail("contains_email", "The password contains your email name.", field)
    if PRODUCT_NAME in folded:
        raise _fail("contains_product_name", "The password contains the product name.", field)
    verdict = guessability(value, [email_name, PRODUCT_NAME])
    if verdict.weakness is not None:
        says, advice = _WEAKNESS_SENTENCES[verdict.weakness]
        because = f" ({verdict.explanation})" if verdict.explanation else ""
        raise _fail(verdict.weakness.value, f"{says}{because}{advice}", field)
    return value
