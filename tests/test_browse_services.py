"""What the dashboard's detail pages read: an agent's activity and a pull request's review history.

Both are Store operations with a route and a client method (issue 14 item 6), so
each is checked through the Store and through the HTTP client, and another
customer's agent or pull request must be NotFound like a missing one.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from flightlog import NotFound
from flightlog.enums import AgentRunStatus, RunStatus
from flightlog.store import Store
from test_client import client_for


async def _team_work(store: Store) -> dict[str, uuid.UUID]:
    """A lead that runs three tasks; a coder that steps into two runs and fails once."""
    lead = await store.agents.register("lead", "team_leader")
    coder = await store.agents.register("coder", "engineer")
    ids = {"lead": lead.id, "coder": coder.id}
    outcomes = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMEOUT]
    for number, outcome in enumerate(outcomes):
        task = await store.tasks.create(title=f"task {number}")
        run = await store.runs.start(task.id, agent_id=lead.id)
        ids[f"run{number}"] = run.id
        mine = await store.agent_runs.start(run.id, agent_name="Lead", agent_id=lead.id)
        await store.agent_runs.finish(mine.id, tokens_in=10, cost_usd="0.01")
        if number < 2:
            step = await store.agent_runs.start(run.id, agent_name="Coder", agent_id=coder.id)
            failed = number == 1
            await store.agent_runs.finish(
                step.id,
                status=AgentRunStatus.FAILED if failed else AgentRunStatus.COMPLETED,
                error_message="broke" if failed else None,
                tokens_in=100,
                tokens_out=50,
                cost_usd="0.25",
            )
        if outcome is RunStatus.COMPLETED:
            await store.runs.finish(run.id)
        elif outcome is RunStatus.FAILED:
            await store.runs.fail(run.id, error_message="no")
        else:
            await store.runs.timeout(run.id)
    return ids


async def test_an_agents_activity_counts_its_runs_steps_and_own_cost(store: Store) -> None:
    ids = await _team_work(store)
    coder = await store.agents.activity(ids["coder"])
    assert (coder.runs, coder.finished_runs, coder.failed_runs) == (2, 2, 1)
    assert (coder.steps, coder.finished_steps, coder.failed_steps) == (2, 2, 1)
    assert (coder.run_error_rate, coder.step_error_rate) == (0.5, 0.5)
    assert (coder.tokens_in, coder.tokens_out, coder.cost_usd) == (200, 100, Decimal("0.5"))
    assert [w.run_id for w in coder.recent] == [ids["run1"], ids["run0"]]
    newest = coder.recent[0]
    assert (newest.task_title, newest.status, newest.led) == ("task 1", RunStatus.FAILED, False)
    assert (newest.steps, newest.failed_steps, newest.cost_usd) == (1, 1, Decimal("0.25"))
    lead = await store.agents.activity(ids["lead"])
    assert (lead.runs, lead.failed_runs) == (3, 2)
    assert lead.run_error_rate == pytest.approx(2 / 3)
    assert (lead.steps, lead.step_error_rate, lead.cost_usd) == (3, 0.0, Decimal("0.03"))
    assert all(w.led for w in lead.recent)
    assert lead.last_active_at is not None


async def test_an_agents_runs_page_on_and_an_idle_agent_has_no_rates(store: Store) -> None:
    ids = await _team_work(store)
    first = await store.agents.activity(ids["lead"], limit=2)
    assert [w.run_id for w in first.recent] == [ids["run2"], ids["run1"]]
    assert first.next_cursor == ids["run1"]
    rest = await store.agents.activity(ids["lead"], cursor=first.next_cursor, limit=2)
    assert ([w.run_id for w in rest.recent], rest.next_cursor) == ([ids["run0"]], None)
    idle = await store.agents.register("idle", "qa")
    nothing = await store.agents.activity(idle.id)
    assert (nothing.runs, nothing.steps, nothing.recent) == (0, 0, [])
    assert (nothing.run_error_rate, nothing.step_error_rate, nothing.last_active_at) == (
        None,
        None,
        None,
    )


async def test_a_pull_requests_history_lists_its_reviews_with_comments(store: Store) -> None:
    project = await store.projects.create(name="site", repository_url="https://git.example/site")
    pr = await store.pull_requests.create(project_id=project.id, branch_name="b", title="Fix")
    await store.pull_requests.open(pr.id, actor="ana")
    await store.pull_requests.request_changes(pr.id, actor="bo", comment="add <tests>")
    await store.pull_requests.approve(pr.id, actor="bo", comment="good")
    history = await store.pull_requests.history(pr.id)
    data = [e.data or {} for e in history]
    moves = [
        (d["from"], d["to"], e.actor, d.get("comment")) for d, e in zip(data, history, strict=True)
    ]
    assert moves == [
        (None, "DRAFT", None, None),
        ("DRAFT", "OPEN", "ana", None),
        ("OPEN", "CHANGES_REQUESTED", "bo", "add <tests>"),
        ("CHANGES_REQUESTED", "APPROVED", "bo", "good"),
    ]


async def test_both_read_the_same_over_http_and_refuse_another_customers(
    store: Store, other: Store
) -> None:
    ids = await _team_work(store)
    project = await store.projects.create(name="p", repository_url="https://git.example/p")
    pr = await store.pull_requests.create(project_id=project.id, branch_name="b", title="T")
    await store.pull_requests.open(pr.id, actor="ana", comment="ready")
    their_agent = await other.agents.register("theirs", "engineer")
    their_project = await other.projects.create(name="q", repository_url="https://git.example/q")
    their_pr = await other.pull_requests.create(
        project_id=their_project.id, branch_name="b", title="T"
    )
    async with client_for(store) as fl:
        remote = await fl.agents.activity(ids["coder"], limit=1)
        local = await store.agents.activity(ids["coder"], limit=1)
        fields = ("runs", "failed_runs", "steps", "step_error_rate", "cost_usd", "next_cursor")
        assert [getattr(remote, f) for f in fields] == [getattr(local, f) for f in fields]
        assert [w.run_id for w in remote.recent] == [w.run_id for w in local.recent]
        history = await fl.pull_requests.history(pr.id)
        assert [(e.actor, (e.data or {}).get("comment")) for e in history] == [
            (None, None),
            ("ana", "ready"),
        ]
        for call in (
            fl.agents.activity(their_agent.id),
            fl.pull_requests.history(their_pr.id),
            fl.agents.activity(uuid.uuid4()),
        ):
            with pytest.raises(NotFound):
                await call
    with pytest.raises(NotFound):
        await store.agents.activity(their_agent.id)
    with pytest.raises(NotFound):
        await store.pull_requests.history(their_pr.id)
