"""A signed-in browser for the find-things pages' tests, and readers of what the pages show."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from html import unescape

import httpx
from sqlalchemy import update

from api_client import app_for
from flightlog.models import Task
from flightlog.store import Store


@asynccontextmanager
async def signed_in(store: Store, *scopes: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the dashboard with a new key of the store's customer."""
    key = (await store.api_keys.create("browsing", scopes=list(scopes or ["read"]))).key
    transport = httpx.ASGITransport(app=app_for(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://flightlog.test") as browser:
        signed = await browser.post("/login", data={"key": key, "next": "/"})
        assert signed.status_code == 303, signed.text
        yield browser


async def html(browser: httpx.AsyncClient, url: str, **params: object) -> str:
    """The page at ``url``, which must answer 200 as HTML."""
    # httpx replaces a URL's own query with ``params`` even when they are empty.
    query = {k: str(v) for k, v in params.items()}
    response = await (browser.get(url, params=query) if query else browser.get(url))
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def row_ids(page: str, kind: str = "task") -> list[str]:
    """The ids of the table rows marked ``data-<kind>``, in page order."""
    return re.findall(rf'<tr data-{kind}="([^"]+)"', page)


def links(page: str) -> list[str]:
    """Every link's target, unescaped as a browser reads it."""
    return [unescape(href) for href in re.findall(r'href="([^"]*)"', page)]


def link_named(page: str, text: str) -> str:
    """The target of the (first) link whose text starts with ``text``."""
    for href, label in re.findall(r'<a[^>]*href="([^"]*)"[^>]*>(.*?)</a>', page, re.S):
        if re.sub(r"<[^>]+>", "", unescape(label)).strip().startswith(text):
            return unescape(href)
    raise AssertionError(f"no link named {text!r}")


def sorted_header(page: str) -> tuple[str, str]:
    """The column the list is sorted by (its link's text) and its aria-sort."""
    [(sort, label)] = re.findall(
        r'<th scope="col"[^>]*aria-sort="(\w+)"><a[^>]*>.*?</span>(\w+)', page, re.S
    )
    return label, sort


def page_range(page: str) -> str:
    """The "41-60 of 213" text of the list's pager (an en dash between the numbers)."""
    found = re.search(r'<span class="page-range">(.*?)</span>', page, re.S)
    assert found, "no page range"
    return unescape(found.group(1)).strip()


async def set_times(store: Store, task_id: uuid.UUID, created: datetime, updated: datetime) -> None:
    """Give a task other creation and change times (a test's clock stands still on PostgreSQL)."""
    async with store.transaction() as session:
        await session.execute(
            update(Task).where(Task.id == task_id).values(created_at=created, updated_at=updated)
        )
