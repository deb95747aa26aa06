"""Driving Debian's Chromium through Playwright's sync API: launching it, a tab on a served
dashboard with sign-in and navigation helpers, and a watch on everything that went
wrong in the page (console errors, uncaught exceptions, failed or refused requests).

Playwright's sync API runs its own asyncio loop in a greenlet and leaves that loop
marked as running on the thread between calls, so browser tests are plain ``def``
functions, talk to the database with a ``SyncStore`` or ``flightlog.Client`` (never
asyncio), and the browser lives no longer than one test module (conftest.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response, ViewportSize

#: Chromium as CI runs it: as root in a container, no GPU, no calls home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
INSTALL_HINT = (
    "Debian's chromium is not installed, so the browser tests cannot run. Install it as "
    ".ci/run does: apt-get install -y -q chromium (after apt-get update -q if the package "
    "lists are empty). Never 'playwright install'."
)


def _browser_required() -> bool:
    return os.environ.get("FLIGHTLOG_REQUIRE_BROWSER", "") not in ("", "0", "false")


def chromium_executable() -> str:
    """Debian's chromium; skipped loudly without it, or failed when CI requires it."""
    found = shutil.which("chromium")
    if found is not None:
        return found
    if _browser_required():
        pytest.fail(f"FLIGHTLOG_REQUIRE_BROWSER=1 but {INSTALL_HINT}", pytrace=False)
    print(f"\n*** WARNING: {INSTALL_HINT} Browser tests are NOT running. ***\n")
    pytest.skip(INSTALL_HINT)


@dataclass
class Watch:
    """Everything that went wrong in a page since it opened (or since :meth:`forget`)."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    refused_requests: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _failed(self, request: Request) -> None:
        reason = request.failure or "failed"
        if "ERR_ABORTED" in reason:
            # Cancelled, not failed: leaving a page aborts its live stream, its favicon and
            # whatever else is still loading. A missing asset is a 404: refused_requests.
            return
        self.failed_requests.append(f"{request.method} {request.url}: {reason}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            request = response.request
            self.refused_requests.append(
                f"{response.status} {request.method} {request.url} ({request.resource_type})"
            )

    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"uncaught exception: {m}" for m in self.page_errors),
            *(f"request failed: {m}" for m in self.failed_requests),
            *(f"request refused: {m}" for m in self.refused_requests),
        ]

    def forget(self) -> None:
        """Start over, e.g. after a test visited an error page on purpose."""
        for found in (
            self.console_errors,
            self.page_errors,
            self.failed_requests,
            self.refused_requests,
        ):
            found.clear()

    def assert_clean(self, where: str = "") -> None:
        problems = self.problems()
        assert not problems, f"the page {where} had problems:\n  " + "\n  ".join(problems)


@dataclass
class Tab:
    """One browser tab (its own context: cookies, viewport) on a served dashboard."""

    page: Page
    base: str
    watch: Watch

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def path(self) -> str:
        """The current page's path and query, as the dashboard's links write them."""
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def goto(self, path: str, *, status: int | None = 200) -> Response:
        """Open ``path`` (e.g. ``/tasks``) and check the page's status (``None``: any)."""
        response = self.page.goto(self.url(path))
        assert response is not None, f"no response for {path}"
        if status is not None:
            assert response.status == status, (
                f"GET {path} answered {response.status}, not {status}: "
                f"{self.page.inner_text('main') if self.page.locator('main').count() else ''}"
            )
        return response

    def sign_in(self, key: str, next_path: str = "/") -> None:
        """Fill and submit the sign-in form as a person does, then wait for ``next_path``."""
        self.goto(f"/login?next={quote(next_path, safe='/')}")
        self.page.locator('input[name="key"]').fill(key)
        with self.page.expect_response(
            lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/login"
        ) as posted:
            self.page.locator('form[action$="/login"] [type="submit"]').click()
        status = posted.value.status
        if status != 303:
            self.page.wait_for_load_state()
            alert = self.page.locator('[role="alert"]')
            said = alert.first.inner_text() if alert.count() else self.page.inner_text("main")
            raise AssertionError(f"signing in was refused ({status}): {said}")
        self.page.wait_for_url(self.url(next_path))

    def scroll_width_overflow(self) -> int:
        """How many CSS pixels the page is wider than the window (0: no sideways scroll)."""
        overflow: Any = self.page.evaluate(
            "document.documentElement.scrollWidth - window.innerWidth"
        )
        return max(int(overflow), 0)

    def widest_elements(self, limit: int = 3) -> list[str]:
        """The elements that stick out past the window's right edge, furthest first: where
        a sideways scroll comes from."""
        found: Any = self.page.evaluate(
            """(limit) => {
              const width = window.innerWidth;
              const out = [];
              for (const el of document.body.querySelectorAll('*')) {
                const right = el.getBoundingClientRect().right;
                if (right > width + 1) {
                  const id = el.id ? '#' + el.id : '';
                  const cls = el.className && typeof el.className === 'string'
                    ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
                  out.push([right, el.tagName.toLowerCase() + id + cls]);
                }
              }
              out.sort((a, b) => b[0] - a[0]);
              return out.slice(0, limit)
                .map(([right, name]) => `${name} (right edge ${Math.round(right)} px)`);
            }""",
            limit,
        )
        return [str(item) for item in found]


#: The ``new_tab`` fixture: opens a tab with Playwright's ``new_context`` options.
NewTab = Callable[..., Tab]
