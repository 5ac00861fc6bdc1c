"""lifespan(config): the manager built at startup (a bad config stops the app from starting),
handed to endpoints by get_manager (mounted apps included), closed at shutdown; composable
with a lifespan of the app's own. Apps are served by uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from nexus_connector_starlette import STATE_KEY, get_manager, lifespan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nexus_connector_core import AsyncConnectorManager, ConfigError

CONFIG = {"connectors": {"email": {"vendor": "memory"}}, "observability": {"loggers": []}}
Serve = Callable[[Any], Any]


async def connectors(request: Request) -> JSONResponse:
    return JSONResponse(sorted(get_manager(request).config.connectors))


def test_the_manager_lives_from_startup_to_shutdown(serve: Serve) -> None:
    app = Starlette(routes=[Route("/", connectors)], lifespan=lifespan(CONFIG))

    served = serve(app)
    manager = app.state.nexus_connector
    answered = httpx.get(served.url).json()
    open_while_serving = not manager.closed
    served.stop()

    assert isinstance(manager, AsyncConnectorManager)
    assert answered == ["email"]
    assert open_while_serving
    assert manager.closed


async def test_a_bad_config_stops_the_app_from_starting_with_its_key_path() -> None:
    bad = {"connectors": {"email": {"vendor": "memory", "options": {"fail_first": -1}}}}
    app = Starlette(lifespan=lifespan(bad))

    with pytest.raises(ConfigError, match=r"connectors\.email\.options\.fail_first"):
        async with app.router.lifespan_context(app):
            pass


def test_the_fastapi_dependency_and_a_mounted_app_get_the_same_manager(serve: Serve) -> None:
    api = FastAPI(lifespan=lifespan(CONFIG))

    @api.get("/id")
    async def which(nexus: Annotated[AsyncConnectorManager, Depends(get_manager)]) -> int:
        return id(nexus)

    async def mounted_id(request: Request) -> JSONResponse:
        return JSONResponse(id(get_manager(request)))

    api.mount("/admin", Starlette(routes=[Route("/", mounted_id)]))
    url = serve(api).url

    ids = {httpx.get(url + "/id").json(), httpx.get(url + "/admin/").json()}

    assert ids == {id(api.state.nexus_connector)}


def test_it_composes_with_the_apps_own_lifespan(serve: Serve) -> None:
    nexus = lifespan(CONFIG)
    events: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        async with nexus(app) as state:
            events.append("started")
            yield {**state, "db": "connected"}
            events.append("stopping")

    app = Starlette(routes=[Route("/", connectors)], lifespan=app_lifespan)
    served = serve(app)
    answered = httpx.get(served.url).json()
    served.stop()

    assert answered == ["email"]
    assert events == ["started", "stopping"]
    assert getattr(app.state, STATE_KEY).closed


async def test_without_the_lifespan_get_manager_says_what_to_do() -> None:
    app = Starlette(routes=[Route("/", connectors)])
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        with pytest.raises(RuntimeError, match=r"lifespan=nexus_connector_starlette\.lifespan"):
            await client.get("/")
