"""The charts of /insights and /metrics draw in a real Chromium (uPlot makes a canvas per
chart from the page's JSON islands), with no console error or failed request, and fit a
390 px phone, redrawing narrower when the window shrinks.
"""

from __future__ import annotations

import pytest
from browsing import PHONE, NewTab, Tab
from dashboards import Dashboard
from playwright.sync_api import expect

#: Each page and the charts the seeded data gives it (cost, tokens, outcomes, success
#: rate and durations; one metric series).
CHART_PAGES = [("/insights", 5), ("/metrics", 1)]

_PAINTED = """(canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


@pytest.mark.parametrize(("path", "charts"), CHART_PAGES)
def test_each_chart_is_drawn_on_a_canvas(
    dashboard: Dashboard, tab: Tab, path: str, charts: int
) -> None:
    tab.sign_in(dashboard.seeded.read_key)
    tab.goto(path)
    canvases = tab.page.locator(".chart.drawn canvas")
    expect(canvases).to_have_count(charts)
    for i in range(charts):
        assert canvases.nth(i).evaluate(_PAINTED) > 0, f"chart {i} of {path} is blank"
    expect(tab.page.locator(".chart-nojs")).to_have_count(0)  # the no-script note is gone
    tab.watch.assert_clean(path)


@pytest.mark.parametrize(("path", "charts"), CHART_PAGES)
def test_the_charts_fit_a_phone_and_follow_the_window(
    dashboard: Dashboard, new_tab: NewTab, path: str, charts: int
) -> None:
    tab = new_tab()  # desktop first, then the window shrinks to a phone's
    tab.sign_in(dashboard.seeded.read_key)
    tab.goto(path)
    expect(tab.page.locator(".chart.drawn canvas")).to_have_count(charts)
    widest = (
        "Math.max(...[...document.querySelectorAll('.chart canvas')]"
        ".map(c => c.getBoundingClientRect().right))"
    )
    assert tab.page.evaluate(widest) > PHONE["width"]
    tab.page.set_viewport_size(PHONE)
    tab.page.wait_for_function(f"{widest} <= {PHONE['width']}", timeout=5000)
    overflow = tab.scroll_width_overflow()
    assert overflow == 0, f"{path} scrolls sideways by {overflow} px: {tab.widest_elements()}"
    tab.watch.assert_clean(path)
