"""The demo data set: idempotent, for local use only (never in production)."""

from __future__ import annotations

from vetchart import bootstrap
from vetchart.config import Settings


async def seed(settings: Settings, database_url: str) -> list[str]:
    """Load every part of the demo data set; running it twice changes nothing."""
    container = await bootstrap.build_container(settings, database_url=database_url)
    try:
        checks = await container.readiness.check()
        failing = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
        if failing:
            reasons = "; ".join(failing)
            raise SystemExit(f"vetchart: run 'vetchart db upgrade' first ({reasons})")
        summary: list[str] = []
        for part in bootstrap.demo_seeders(
            container, knowledge_base=True, schedule=True, lifecycle=True, messaging=True
        ):
            summary.append(await part())
        return summary or ["demo data: nothing to load yet"]
    finally:
        await container.aclose()
