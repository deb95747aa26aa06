"""Regenerate docs/screenshots/: each main page of the dashboard as a person sees it at
1280x800 in Debian's Chromium, on the data ``flightlog demo`` writes, served by a real
``flightlog serve``.

    .venv/bin/python tests/browser/screenshots.py            # writes docs/screenshots/*.png
    .venv/bin/python tests/browser/screenshots.py --out /tmp/shots

Not a test (pytest does not collect it): pictures are looked at, not asserted on. A page
that does not exist yet (404) is left out and named in the output.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# tests/ holds the helpers this script shares with the test suite (serving, waiting).
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from browsing import CHROMIUM_ARGS, DESKTOP, INSTALL_HINT, Tab, Watch
from playwright.sync_api import sync_playwright
from sqlalchemy import func, select

from flightlog.db.engine import create_sync_engine
from flightlog.models import AgentRun, Customer, Task, TaskRun
from flightlog.ops.demo import DEMO_EMAIL
from flightlog.settings import Settings
from serving import serving

REPO = Path(__file__).resolve().parents[2]
#: File name -> path; "task" and "run" are the demo's run with the most agent steps.
PAGES: dict[str, str | None] = {
    "overview": "/",
    "tasks": "/tasks",
    "task": None,
    "run": None,
    "waiting": "/waiting",
    "agents": "/agents",
    "projects": "/projects",
    "sessions": "/sessions",
    "pull-requests": "/pull-requests",
    "insights": "/insights",
    "metrics": "/metrics",
    "login": "/login",
}
_KEY = re.compile(r"fl_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def _flightlog(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")},
            "COLUMNS": "200",
        },
    )
    if done.returncode != 0:
        raise SystemExit(f"flightlog {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _busiest_run(url: str) -> tuple[str, str]:
    """The demo customer's run with the most agent steps, and its task: the fullest pages."""
    engine = create_sync_engine(Settings(database_url=url))
    try:
        with engine.connect() as connection:
            task_id, run_id = connection.execute(
                select(TaskRun.task_id, TaskRun.id)
                .join(AgentRun, AgentRun.run_id == TaskRun.id)
                .join(Task, Task.id == TaskRun.task_id)
                .join(Customer, Customer.id == Task.customer_id)
                .where(Customer.email == DEMO_EMAIL)
                .group_by(TaskRun.task_id, TaskRun.id)
                .order_by(func.count().desc(), TaskRun.id)
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    return f"/tasks/{task_id}", f"/runs/{run_id}"


def take(out: Path) -> list[Path]:
    """Write one PNG per existing page into ``out``; return what was written."""
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit(INSTALL_HINT)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        url = f"sqlite:///{home / 'flightlog.db'}"
        _flightlog("demo", "-d", url, cwd=home)
        created = _flightlog(
            "api-key", "create", "--name", "screenshots", "--scope", "read", "--scope", "write",
            "--customer", DEMO_EMAIL, "-d", url, cwd=home,
        )  # fmt: skip
        key = _KEY.search(created)
        if key is None:
            raise SystemExit(f"no key in the output of api-key create:\n{created}")
        found = dict(zip(("task", "run"), _busiest_run(url), strict=True))
        with serving(url, home) as served, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
            )
            context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
            page = context.new_page()
            tab = Tab(page, served.base, Watch())
            tab.watch.attach(page)
            for name, path in PAGES.items():
                if name == "login":
                    context.clear_cookies()
                elif tab.page.url == "about:blank":
                    tab.sign_in(key.group())
                path = path or found[name]
                response = tab.goto(path, status=None)
                if response.status == 404:
                    print(f"skipped {name}: {path} is not a page yet")
                    tab.watch.forget()
                    continue
                target = out / f"{name}.png"
                page.screenshot(path=str(target))
                written.append(target)
                print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}: "
                      f"{target.stat().st_size // 1024} KB ({path})")  # fmt: skip
            for problem in tab.watch.problems():
                print(f"problem: {problem}")
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    take(parser.parse_args().out)


if __name__ == "__main__":
    main()
