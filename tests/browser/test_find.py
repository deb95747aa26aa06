"""Finding things in a real Chromium against a real ``flightlog serve``, on both dialects
(issue 14 items 6 and 8): the navigation's search box finds a task, a column header sorts
the list and says so, a filter narrows it and a sort keeps the filter, and the pages that
find things show no console error and do not scroll sideways on a phone.
"""

from __future__ import annotations

import pytest
from browsing import PHONE, NewTab, Tab
from dashboard_data import Seeded
from dashboards import Dashboard
from playwright.sync_api import expect


def test_the_navigations_search_box_finds_a_task(dashboard: Dashboard, tab: Tab) -> None:
    tab.sign_in(dashboard.seeded.read_key)
    tab.goto("/tasks")
    box = tab.page.get_by_role("searchbox", name="Search tasks")
    box.fill("invoices migration")
    box.press("Enter")
    expect(tab.page).to_have_url(tab.url("/search?q=invoices+migration"))
    expect(tab.page.get_by_role("searchbox", name="Search tasks")).to_have_value(
        "invoices migration"
    )
    result = tab.page.get_by_role("link", name="Migrate the invoices table")
    expect(result).to_have_count(1)
    expect(tab.page.get_by_role("link", name="Build the payments API")).to_have_count(0)
    result.click()
    expect(tab.page).to_have_url(tab.url(f"/tasks/{dashboard.seeded.failed_task}"))
    tab.watch.assert_clean()


def test_sorting_and_filtering_the_task_list_keep_each_other(
    dashboard: Dashboard, tab: Tab
) -> None:
    tab.sign_in(dashboard.seeded.read_key)
    tab.goto("/tasks")
    tab.page.get_by_label("Tag").fill("payments")
    tab.page.get_by_role("button", name="Filter").click()
    rows = tab.page.locator("table.task-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Build the payments API")
    tab.page.get_by_label("Tag").fill("")
    tab.page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(3)
    tab.page.get_by_role("link", name="sort by task").click()
    header = tab.page.locator("th[aria-sort]")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(header).to_contain_text("task")
    expect(rows.first).to_contain_text("Build the payments API")
    tab.page.get_by_label("Status").select_option("FAILED")
    tab.page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(tab.page.locator("th[aria-sort]")).to_contain_text("task")  # the sort stayed
    tab.page.get_by_role("link", name="sort by task").click()
    expect(tab.page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")
    expect(tab.page.get_by_label("Status")).to_have_value("FAILED")  # the filter stayed
    expect(rows).to_have_count(1)
    tab.watch.assert_clean()


def _find_page(name: str, seeded: Seeded) -> str:
    return {
        "search": "/search?q=payments",
        "projects": "/projects",
        "project": f"/projects/{seeded.project}",
        "agent": f"/agents/{seeded.agent}",
        "pull_requests": "/pull-requests",
        "pull_request": f"/pull-requests/{seeded.pull_request}",
        "sessions": "/sessions",
        "filtered_tasks": "/tasks?status=FAILED&sort=title&order=asc&within=7d",
    }[name]


FIND_PAGES = (
    "search",
    "projects",
    "project",
    "agent",
    "pull_requests",
    "pull_request",
    "sessions",
    "filtered_tasks",
)


@pytest.mark.parametrize("name", FIND_PAGES)
def test_the_finding_pages_render_cleanly_and_fit_a_phone(
    dashboard: Dashboard, new_tab: NewTab, name: str
) -> None:
    tab = new_tab(viewport=PHONE)
    tab.sign_in(dashboard.seeded.read_key)
    path = _find_page(name, dashboard.seeded)
    tab.goto(path)
    expect(tab.page.locator("main h1").first).to_be_visible()
    overflow = tab.scroll_width_overflow()
    assert overflow == 0, (
        f"{path} is {overflow} px wider than a {PHONE['width']} px phone; "
        f"sticking out: {tab.widest_elements()}"
    )
    tab.watch.assert_clean(path)
