"""Administrative one-shots run from the command line."""

from __future__ import annotations

from uuid import UUID

from vetchart import bootstrap
from vetchart.config import Settings
from vetchart.domain.users import NewAccount


async def create_admin(
    settings: Settings, database_url: str, email: str, full_name: str, password: str
) -> UUID:
    container = await bootstrap.build_container(settings, database_url=database_url)
    try:
        account = NewAccount(email=email, full_name=full_name, password=password)
        user = await container.users.create_admin(account)
        return user.id
    finally:
        await container.aclose()
