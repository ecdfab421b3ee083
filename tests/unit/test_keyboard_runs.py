from __future__ import annotations

import pytest

from vetchart.adapters.security.passwords import keyboard_run_coverage, zxcvbn_guessability
from vetchart.domain.errors import RuleViolation
from vetchart.domain.passwords import Weakness, check_password


@pytest.mark.parametrize(
    "password",
    [
        "qwertyuiopasdfghjklzxcvbnm",
        "mnbvcxzlkjhgfdsapoiuytrewq",
        "qwertyuiop[]asdfghjkl;zxcvbnm",
        "qwertyuiopasdfghjkl",
        "QWERTZUIOPASDFGHJKL",
        "azertyuiopqsdfghjklm",
        "1234567890qwertyuiop",
    ],
)
def test_keyboard_runs_are_patterned(password: str) -> None:
    verdict = zxcvbn_guessability(password, [])
    assert verdict.weakness is Weakness.PATTERNED
    with pytest.raises(RuleViolation) as refused:
        check_password(password, email="someone@example.com", guessability=zxcvbn_guessability)
    assert refused.value.rule == "password.patterned"


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "purple-otter-reads-maps-at-dawn",
        "we were there as we rested by the lake",
    ],
)
def test_ordinary_passphrases_are_not_keyboard_runs(password: str) -> None:
    assert keyboard_run_coverage(password) < 0.75
    assert zxcvbn_guessability(password, []).weakness is None


def test_coverage_counts_only_runs_of_four_or_more() -> None:
    assert keyboard_run_coverage("qwe") == 0.0
    assert keyboard_run_coverage("qwer") == 1.0
    assert keyboard_run_coverage("qwer....") == 0.5
    assert keyboard_run_coverage("") == 0.0
