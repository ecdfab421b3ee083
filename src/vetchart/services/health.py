"""Readiness: the database checks, and each configured outside service's circuit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class CheckOutcome(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def detail(self) -> str: ...


class ReadinessProbe(Protocol):
    """The database answers and its schema is at the migration head (adapters/db/health)."""

    async def check(self) -> Sequence[CheckOutcome]: ...


class CircuitStates(Protocol):
    """``{service: {state, ...}}`` of the outside services' circuit breakers."""

    def snapshot(self) -> Mapping[str, Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]
    # The failing checks' names: any makes the process unready. An open circuit is not
    # one (answers degrade, e.g. extractive instead of generated, but still come).
    failing: list[str]


class HealthService:
    def __init__(self, *, probe: ReadinessProbe, circuits: CircuitStates) -> None:
        self._probe = probe
        self._circuits = circuits

    async def readiness(self) -> Readiness:
        results = await self._probe.check()
        checks = [Check(r.name, r.ok, r.detail) for r in results]
        checks += [
            Check(service, True, f"circuit {snapshot['state']}")
            for service, snapshot in self._circuits.snapshot().items()
        ]
        return Readiness(checks, [r.name for r in results if not r.ok])
