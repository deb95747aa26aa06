"""Fixtures of the browser tests: a real ``flightlog serve`` on a fresh database of each
dialect with :func:`dashboard_data.seed`'s data (one server per dialect per test module),
Debian's Chromium (one per test module), and a fresh tab per test.

A test takes ``dashboard`` (so it runs on SQLite and on PostgreSQL) and ``tab`` (or
``new_tab`` for more tabs, or other viewports); it signs in through the form, clicks
and asserts with Playwright's ``expect``, which waits for the page to get there::

    def test_a_task_page_links_to_its_runs(dashboard: Dashboard, tab: Tab) -> None:
        tab.sign_in(dashboard.seeded.read_key)
        tab.goto(f"/tasks/{dashboard.seeded.done_task}")
        tab.page.get_by_role("link", name="#1", exact=True).click()
        expect(tab.page).to_have_url(tab.url(f"/runs/{dashboard.seeded.done_run}"))
        expect(tab.page.locator("h1")).to_contain_text("Run #1")
        tab.watch.assert_clean()

``dashboard.store`` (a SyncStore on the served database, the signed-in customer's)
writes what an agent would, behind the browser's back; a test that changes state makes
its own objects with it rather than change the seeded ones, which other tests share.

Why module scope and not session scope: Playwright's sync API leaves its event loop
marked as running on the thread between calls, which would make every asyncio test
that a pytest-xdist worker runs after a browser test fail ("another loop is running").
pytest tears a module's fixtures down before the next module's first test, and stopping
Playwright clears the mark (checked below), so a worker is clean again after a module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from browsing import CHROMIUM_ARGS, DESKTOP, NewTab, Tab, Watch, chromium_executable
from dashboards import Dashboard, Dashboards, DatabaseMaker
from playwright.sync_api import Browser, sync_playwright


@pytest.fixture(scope="module")
def _dashboards(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: DatabaseMaker | None
) -> Iterator[Dashboards]:
    servers = Dashboards(tmp_path_factory.mktemp("dashboards"), postgres_server)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def dashboard(dialect: str, _dashboards: Dashboards) -> Dashboard:
    """The module's server on ``dialect`` (tests taking it run on SQLite and PostgreSQL)."""
    return _dashboards.get(dialect)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for one test module."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
    # The next module's asyncio tests need a thread with no loop marked as running.
    assert asyncio.events._get_running_loop() is None, "Playwright left its loop running"


@pytest.fixture
def new_tab(chromium: Browser, dashboard: Dashboard) -> Iterator[NewTab]:
    """Open a tab in a browser context of its own (own cookies): ``new_tab(viewport=PHONE)``
    takes Playwright's ``new_context`` options. Every one is closed after the test."""
    contexts = []

    def open_tab(**options: Any) -> Tab:
        options.setdefault("viewport", DESKTOP)
        context = chromium.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        watch = Watch()
        watch.attach(page)
        return Tab(page, dashboard.base, watch)

    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture
def tab(new_tab: NewTab) -> Tab:
    """A desktop-sized tab (1280x800), not signed in."""
    return new_tab()
