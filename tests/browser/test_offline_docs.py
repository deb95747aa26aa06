"""The API docs and the dashboard's chrome in a real Chromium that cannot reach the internet.

Every request that leaves the served dashboard is refused and recorded: /docs (Swagger
UI) and /redoc must still render in full from Flightlog's own files. On a 390 px phone
the header's links and buttons are tap targets of at least 24 px, and the skip link is
the first thing the keyboard reaches.
"""

from __future__ import annotations

from typing import Any

import pytest
from browsing import PHONE, NewTab, Tab
from dashboards import Dashboard
from playwright.sync_api import Route, expect

#: WCAG 2.2's minimum target size (2.5.8), in CSS pixels.
MIN_TARGET = 24
#: Swagger UI and ReDoc parse the whole OpenAPI document (~300 kB) before drawing anything;
#: on a loaded two-core machine that takes seconds, not Playwright's default 5 s.
RENDER_MS = 60_000


def offline(tab: Tab) -> list[str]:
    """Refuse every request that is not to the served dashboard; returns the refused URLs."""
    refused: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(tab.base):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    tab.page.context.route("**/*", only_local)
    return refused


def test_swagger_ui_renders_offline(dashboard: Dashboard, tab: Tab) -> None:
    refused = offline(tab)
    tab.goto("/docs")
    expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text(
        "Flightlog", timeout=RENDER_MS
    )
    operations = tab.page.locator(".swagger-ui .opblock")
    expect(operations.first).to_be_visible(timeout=RENDER_MS)
    assert operations.count() > 20, "the API's operations are listed"
    assert refused == []
    tab.watch.assert_clean("/docs")


def test_redoc_renders_offline(dashboard: Dashboard, tab: Tab) -> None:
    refused = offline(tab)
    tab.goto("/redoc")
    expect(tab.page.locator("h1").first).to_contain_text("Flightlog", timeout=RENDER_MS)
    expect(tab.page.get_by_role("menuitem").first).to_be_visible(timeout=RENDER_MS)
    assert refused == []
    tab.watch.assert_clean("/redoc")


@pytest.mark.parametrize("path", ["/", "/login"])
def test_dashboard_pages_load_nothing_from_elsewhere(
    dashboard: Dashboard, tab: Tab, path: str
) -> None:
    refused = offline(tab)
    if path != "/login":
        tab.sign_in(dashboard.seeded.read_key)
    tab.goto(path)
    expect(tab.page.locator("main h1").first).to_be_visible()
    assert refused == []
    tab.watch.assert_clean(path)


def test_header_targets_are_big_enough_on_a_phone(dashboard: Dashboard, new_tab: NewTab) -> None:
    tab = new_tab(viewport=PHONE, is_mobile=True)
    tab.sign_in(dashboard.seeded.read_key)
    tab.goto("/")
    targets = tab.page.locator("header a, header button, header input")
    assert targets.count() >= 12, "brand, ten navigation links, search, sign out"
    small = []
    for index in range(targets.count()):
        target = targets.nth(index)
        box: Any = target.bounding_box()
        assert box is not None, f"{target.inner_text()} is not shown"
        assert box["x"] >= 0, f"{target.inner_text()!r} starts left of the screen"
        assert box["x"] + box["width"] <= PHONE["width"], f"{target.inner_text()!r} sticks out"
        if box["height"] < MIN_TARGET or box["width"] < MIN_TARGET:
            small.append(f"{target.inner_text()!r}: {box['width']:.0f}x{box['height']:.0f}")
    assert small == [], f"tap targets under {MIN_TARGET} px: {small}"


def test_the_keyboard_reaches_the_skip_link_first(dashboard: Dashboard, tab: Tab) -> None:
    tab.sign_in(dashboard.seeded.read_key)
    tab.goto("/")
    tab.page.keyboard.press("Tab")
    focused = tab.page.locator(":focus")
    expect(focused).to_have_text("Skip to content")
    expect(focused).to_be_in_viewport()
    outline = tab.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "the focused link shows a focus ring"
    tab.page.keyboard.press("Enter")
    expect(tab.page.locator("main#main")).to_be_focused()
