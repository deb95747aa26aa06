"""An HTTP client on the API app, inside the ``store`` fixture's rolled-back transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from flightlog.api import create_app
from flightlog.api.context import ApiContext
from flightlog.store import Store

#: Apps built by earlier tests of this worker, by database and settings.
_BUILT: dict[tuple[str, str], list[FastAPI]] = {}
#: The apps handed out during the current test (``release_apps`` empties it after each).
_IN_USE: set[int] = set()


def app_for(store: Store, **setting_changes: object) -> FastAPI:
    """The API app on the store's engine and connection, with ``setting_changes``.

    Building an app is cheap, but FastAPI builds each route's handling state on the
    first request that walks past it (0.3-0.5 s of CPU per app here), which made app
    construction a third of the API tests' time. So an app built by an earlier test
    on the same database with the same settings is taken again, bound to this test's
    engine and connection by a new ``ApiContext`` (new key cache, new Stores): nothing
    of the earlier test carries over (the app holds its engine only in that context).
    Within one test each call still gets its own app, as two servers would be. A test
    that changes the app itself must call ``create_app``.
    """
    settings = store.settings.model_copy(update=setting_changes)
    # Every test has its own blob directory; the app reads it from its context per request.
    key = (str(store.engine.url), settings.model_dump_json(exclude={"blob_dir"}))
    for app in _BUILT.get(key, []):
        if id(app) not in _IN_USE:
            app.state.flightlog = ApiContext(store.engine, settings, store.connection)
            _IN_USE.add(id(app))
            return app
    app = create_app(settings, engine=store.engine, connection=store.connection)
    _BUILT.setdefault(key, []).append(app)
    _IN_USE.add(id(app))
    return app


def release_apps() -> None:
    """End of a test: every app it was handed may be handed to the next one."""
    _IN_USE.clear()


@asynccontextmanager
async def client_for(
    app: FastAPI, key: str | None, *, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://flightlog.test/api/v1", headers=headers
    ) as client:
        yield client


@asynccontextmanager
async def client_of(store: Store, *scopes: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a new key of the store's customer, with the given scopes."""
    created = await store.api_keys.create("tests", scopes=scopes)
    async with client_for(app_for(store), created.key) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of a response that must have ``status``."""
    assert response.status_code == status, response.text
    return response.json()


def error_code(response: httpx.Response, status: int) -> str:
    """The error code of a response that must fail with ``status``."""
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code
