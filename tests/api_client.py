"""An HTTP client on the API app, inside the ``store`` fixture's rolled-back transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from flightlog.api import create_app
from flightlog.store import Store


def app_for(store: Store, **setting_changes: object) -> FastAPI:
    settings = store.settings.model_copy(update=setting_changes)
    return create_app(settings, engine=store.engine, connection=store.connection)


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
