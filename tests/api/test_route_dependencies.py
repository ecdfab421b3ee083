"""Routes take the services they use as typed dependencies (api/dependencies.py), never the
composition root's ``Container``; routers import neither bootstrap nor one another.

Issue 14: a route's parameters say what it depends on. These checks read the app's routes
(no database: the lifespan does not run) and the routers' source."""

from __future__ import annotations

import ast
import inspect
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from tests.conftest import make_settings
from vetchart.api import routers
from vetchart.api.app import create_app
from vetchart.api.dependencies import PetsDep, RecordsDep, container_of
from vetchart.bootstrap import Container

_NO_DATABASE = "postgresql://routes-only@127.0.0.1:9/none"
ROUTERS = Path(routers.__file__).parent


def _app() -> FastAPI:
    return create_app(make_settings(_NO_DATABASE), database_url=_NO_DATABASE)


def _names_container(annotation: object) -> bool:
    """Whether a type annotation is, or contains, ``Container``."""
    if annotation is Container:
        return True
    return any(_names_container(arg) for arg in typing.get_args(annotation))


def _hints(call: Any) -> dict[str, object]:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return typing.get_type_hints(target, include_extras=True)


def _tree(dependant: Dependant, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every callable of a route's dependency tree (the endpoint first), with its path."""
    if dependant.call is not None:
        yield path, dependant.call
    for sub in dependant.dependencies:
        name = getattr(sub.call, "__name__", repr(sub.call))
        yield from _tree(sub, (*path, name))


def _container_uses(route: APIRoute) -> list[str]:
    found = []
    for path, call in _tree(route.dependant, (route.name,)):
        if call is container_of:
            found.append(" > ".join(path) + " is container_of")
            continue
        for name, hint in _hints(call).items():
            if _names_container(hint):
                found.append(" > ".join(path) + f" ({name})")
    return found


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every operation, also those of the routers included under the app."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            # Dependencies given at inclusion would apply to every route of the router.
            assert not route.include_context.dependencies
            yield from _api_routes(included.routes)


def test_no_route_receives_the_container() -> None:
    routes = list(_api_routes(_app().routes))
    assert len(routes) > 80  # every router is mounted
    offenders = {route.path: uses for route in routes if (uses := _container_uses(route))}
    assert offenders == {}


# Routes as a mistake would write them (module level: their annotations are resolved here).
ContainerParam = Annotated[Container, Depends(container_of)]


async def _takes_it(container: ContainerParam) -> None: ...


async def _hidden(container: ContainerParam) -> int:
    return 1


async def _takes_it_indirectly(pets: PetsDep, n: Annotated[int, Depends(_hidden)]) -> None: ...


async def _takes_services(pets: PetsDep, records: RecordsDep) -> None: ...


def test_the_check_sees_a_route_that_takes_the_container() -> None:
    """The check above can fail: a route with the container as a parameter is caught, and
    so is one that reaches it through a sub-dependency; one with services is not."""
    app = FastAPI()
    app.add_api_route("/direct", _takes_it)
    app.add_api_route("/through", _takes_it_indirectly)
    app.add_api_route("/fine", _takes_services)
    by_path = {r.path: r for r in app.routes if isinstance(r, APIRoute)}
    assert _container_uses(by_path["/direct"])
    assert _container_uses(by_path["/through"])
    assert _container_uses(by_path["/fine"]) == []


def _imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_routers_import_neither_bootstrap_nor_another_router() -> None:
    files = sorted(ROUTERS.glob("*.py"))
    assert len(files) > 10
    offending: dict[str, list[str]] = {}
    for file in files:
        bad = [
            module
            for module in _imported_modules(file.read_text(encoding="utf-8"))
            if module == "vetchart.bootstrap"
            or module.startswith("vetchart.bootstrap.")
            or (module.startswith("vetchart.api.routers.") and module != "vetchart.api.routers")
            or module.endswith(".Container")
        ]
        if bad:
            offending[file.name] = sorted(bad)
    assert offending == {}


def test_the_import_check_sees_a_forbidden_import() -> None:
    source = (
        "from vetchart.bootstrap import Container\n"
        "from vetchart.api.routers.records import x\n"
        "import vetchart.api.presenters\n"
    )
    modules = _imported_modules(source)
    assert "vetchart.bootstrap" in modules
    assert "vetchart.api.routers.records" in modules
