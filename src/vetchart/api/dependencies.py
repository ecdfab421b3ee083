"""FastAPI dependencies: resolve what a route needs. They never decide access."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vetchart.bootstrap import Container


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]
