"""The pages things have of their own: agents, projects, sessions, pull requests (issue 14).

Each list links to its detail page, which shows that thing's data (an agent's
runs, cost, error rate and heartbeat; a project's tasks, modification requests
and pull requests; a session's runs; a pull request's checks, status and
reviews), escaped. Another customer's id, or name, is the same 404 page as a
missing one (tests/test_tenant_isolation_paths.py compares them byte for byte).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from dashboard_browsing import html, row_ids, signed_in
from flightlog.enums import AgentRunStatus
from flightlog.store import Store
from two_tenants import World


async def test_an_agents_page_shows_its_health_runs_cost_and_error_rate(store: Store) -> None:
    agent = await store.agents.register("<b>coder</b>", "engineer", role="Engineer", version="2")
    await store.agents.heartbeat(agent.id)
    idle = await store.agents.register("idle", "qa")
    runs = []
    for outcome in (AgentRunStatus.COMPLETED, AgentRunStatus.FAILED):
        task = await store.tasks.create(title=f"task {outcome.value.lower()} <x>")
        run = await store.runs.start(task.id)
        step = await store.agent_runs.start(run.id, agent_name="Coder", agent_id=agent.id)
        await store.agent_runs.finish(
            step.id, status=outcome, tokens_in=1000, tokens_out=500, cost_usd="1.25"
        )
        runs.append(run.id)
    async with signed_in(store) as browser:
        listing = await html(browser, "/agents")
        assert row_ids(listing, "agent") == [str(agent.id), str(idle.id)]
        assert f'href="/agents/{agent.id}"' in listing
        assert "<b>coder</b>" not in listing
        assert "&lt;b&gt;coder&lt;/b&gt;" in listing
        page = await html(browser, f"/agents/{agent.id}")
        by_name = await html(browser, f"/agents/{quote('<b>coder</b>', safe='')}")
    assert row_ids(page, "run") == [str(r) for r in reversed(runs)]
    assert row_ids(by_name, "run") == row_ids(page, "run")
    assert "badge s-HEALTHY" in page
    assert "data-since=" in page
    assert " ago" in page
    assert "$2.50" in page  # its own steps' cost
    assert "50%" in page
    assert "1 of 2" in page
    assert "3,000" in page  # tokens
    assert "task failed &lt;x&gt;" in page
    assert "<x>" not in page
    assert f'href="/tasks?agent={agent.id}"' in page
    for region in ("agent-status", "agent-runs"):
        assert f'data-live-region="{region}"' in page


async def test_an_agents_runs_page_on_to_older_ones(store: Store) -> None:
    agent = await store.agents.register("busy", "engineer")
    task = await store.tasks.create(title="busy work")
    made = [(await store.runs.start(task.id, agent_id=agent.id)).id for _ in range(23)]
    async with signed_in(store) as browser:
        first = await html(browser, f"/agents/{agent.id}")
        assert row_ids(first, "run") == [str(r) for r in reversed(made)][:20]
        older = await html(browser, f"/agents/{agent.id}", cursor=made[3])
    assert row_ids(older, "run") == [str(r) for r in reversed(made[:3])]
    assert "Older runs" in first
    assert "Older runs" not in older
    assert "Newest runs" in older


async def test_a_projects_page_shows_its_tasks_modifications_and_pull_requests(
    store: Store,
) -> None:
    project = await store.projects.create(
        name="<i>site</i>", repository_url="https://git.test/site", owner="ana"
    )
    elsewhere = await store.tasks.create(title="elsewhere")
    tasks = [
        (await store.tasks.create(title=f"site task {i}", project_id=project.id)).id
        for i in range(22)
    ]
    change = await store.modifications.request(project.id, request="Add <dark> mode")
    pr = await store.pull_requests.create(project_id=project.id, branch_name="dark", title="Dark")
    async with signed_in(store) as browser:
        listing = await html(browser, "/projects")
        assert row_ids(listing, "project") == [str(project.id)]
        page = await html(browser, f"/projects/{project.id}")
    assert row_ids(page) == [str(t) for t in reversed(tasks)][:20]
    assert str(elsewhere.id) not in page
    assert "(22)" in page
    assert f'href="/tasks?project={project.id}"' in page
    assert row_ids(page, "modification") == [str(change.id)]
    assert "Add &lt;dark&gt; mode" in page
    assert "<dark>" not in page
    assert row_ids(page, "pull-request") == [str(pr.id)]
    assert "&lt;i&gt;site&lt;/i&gt;" in page
    assert "<i>site</i>" not in page


async def test_a_sessions_page_shows_its_runs(store: Store) -> None:
    session_id = await World(store).id("session")
    [summary] = await store.sessions.list()
    runs = await store.sessions.runs(session_id)
    assert runs
    async with signed_in(store) as browser:
        listing = await html(browser, "/sessions")
        assert row_ids(listing, "session") == [str(session_id)]
        assert summary.external_id in listing
        page = await html(browser, f"/sessions/{session_id}")
    assert row_ids(page, "run") == [str(r.id) for r in runs]
    assert f'href="/runs/{runs[0].id}"' in page
    assert f'href="/tasks/{runs[0].task_id}"' in page
    for region in ("session-summary", "session-runs"):
        assert f'data-live-region="{region}"' in page


async def test_a_pull_requests_page_shows_checks_status_and_reviews(store: Store) -> None:
    project = await store.projects.create(name="api", repository_url="https://git.test/api")
    task = await store.tasks.create(title="the task")
    pr = await store.pull_requests.create(
        project_id=project.id, branch_name="fix/<x>", title="Fix <it>", task_id=task.id
    )
    other_pr = await store.pull_requests.create(project_id=project.id, branch_name="b", title="B")
    await store.pull_requests.record_check(pr.id, name="unit", status="PASSED")
    await store.pull_requests.record_check(pr.id, name="lint", status="FAILED")
    await store.pull_requests.open(pr.id, actor="ana")
    await store.pull_requests.request_changes(pr.id, actor="bo", comment="fix <lint> please")
    async with signed_in(store) as browser:
        listing = await html(browser, "/pull-requests")
        assert row_ids(listing, "pull-request") == [str(other_pr.id), str(pr.id)]
        filtered = await html(browser, "/pull-requests", status="CHANGES_REQUESTED")
        assert row_ids(filtered, "pull-request") == [str(pr.id)]
        page = await html(browser, f"/pull-requests/{pr.id}")
    assert "badge s-CHANGES_REQUESTED" in page
    assert '<tr data-check="lint">' in page
    assert '<tr data-check="unit">' in page
    assert "not allowed: lint is FAILED" in page
    assert "fix &lt;lint&gt; please" in page
    assert "<lint>" not in page
    assert "Fix &lt;it&gt;" in page
    assert "fix/&lt;x&gt;" in page
    assert page.index("<strong>ana</strong>") < page.index("<strong>bo</strong>")
    assert f'href="/tasks/{task.id}"' in page
    assert f'href="/projects/{project.id}"' in page
    for region in ("pr-status", "pr-checks", "pr-history"):
        assert f'data-live-region="{region}"' in page


async def test_another_customers_things_are_missing_pages(store: Store, other: Store) -> None:
    theirs = World(other)
    agent = await other.agents.get(await theirs.id("agent"))
    async with signed_in(store) as browser:
        by_name = await browser.get(f"/agents/{quote(agent.name)}")
        nobody = await browser.get("/agents/nobody-here")
        assert by_name.status_code == nobody.status_code == 404
        assert by_name.text.replace(agent.name, "?") == nobody.text.replace("nobody-here", "?")
        for path in (
            f"/agents/{agent.id}",
            f"/projects/{await theirs.id('project')}",
            f"/sessions/{await theirs.id('session')}",
            f"/pull-requests/{await theirs.id('pull_request')}",
            f"/tasks/{await theirs.id('task')}",
            f"/agents/{uuid.uuid4()}",
            "/agents/nobody",
        ):
            missing = await browser.get(path)
            assert missing.status_code == 404, path
            assert missing.headers["content-type"].startswith("text/html")
            assert "secret" not in missing.text, path
        assert "secret" not in await html(browser, "/agents")
        assert "secret" not in await html(browser, "/projects")
        assert "secret" not in await html(browser, "/pull-requests")
        assert "secret" not in await html(browser, "/sessions")
        assert row_ids(await html(browser, "/search", q="secret")) == []
