"""``AsyncClient`` for projects and human review, on both databases: projects, their iterations
and modifications, templates, recommendations, optimizations, pull requests, search and views."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flightlog import Conflict, NotFound
from flightlog.enums import (
    ApprovalStatus,
    ModificationStatus,
    OptimizationStatus,
    Priority,
    PullRequestStatus,
    RecommendationStatus,
    RunStatus,
    TaskStatus,
    ValidationStatus,
)
from flightlog.schemas.projects import ProjectOut
from flightlog.services.project_contexts import ContextComparison
from flightlog.store import Store
from test_client import client_for


async def test_projects_and_their_iterations(store: Store) -> None:
    async with client_for(store) as fl:
        project = await fl.projects.create(name="todo", repository_url="https://git/todo")
        assert isinstance(project, ProjectOut)
        assert project.default_branch == "main"  # the service's default, as on the Store
        others = [await fl.projects.create(name=f"p{i}", owner="ann") for i in range(2)]
        changed = await fl.projects.update(project.id, owner="bob", description=None)
        assert (changed.owner, changed.repository_url) == ("bob", "https://git/todo")
        assert await fl.projects.get(project.id) == changed
        first = await fl.projects.list(owner="ann", limit=1)
        assert first.next_cursor is not None
        rest = await fl.projects.list(owner="ann", cursor=first.next_cursor)
        assert {p.id for p in first.items + rest.items} == {p.id for p in others}

        one = await fl.project_contexts.add_iteration(
            project.id, codebase={"files": 3}, test_coverage=50.0
        )
        two = await fl.project_contexts.add_iteration(
            project.id, codebase={"files": 5}, test_coverage=80.0, notes="more tests"
        )
        assert (one.iteration, two.iteration) == (1, 2)
        assert await fl.project_contexts.get(project.id, 2) == two
        assert [c.id for c in await fl.project_contexts.list(project.id)] == [one.id, two.id]
        diff = await fl.project_contexts.compare(project.id, 1, 2)
        assert isinstance(diff, ContextComparison)
        assert diff.score_deltas["test_coverage"] == 30.0

        await fl.projects.delete(others[0].id)
        with pytest.raises(NotFound):
            await fl.projects.get(others[0].id)


async def test_modifications_are_requested_decided_applied_or_failed(store: Store) -> None:
    async with client_for(store) as fl:
        project = await fl.projects.create(name="mods")
        asked = [
            await fl.modifications.request(
                project.id, request=f"change {i}", affected_files=["a.py"], requested_by="ann"
            )
            for i in range(4)
        ]
        assert asked[0].affected_files == ["a.py"]
        approved = await fl.modifications.approve(asked[0].id, decided_by="lead")
        assert approved.status == ModificationStatus.APPROVED
        applied = await fl.modifications.apply(asked[0].id, result={"commit": "abc"}, actor="bot")
        assert (applied.status, applied.result) == (ModificationStatus.APPLIED, {"commit": "abc"})
        await fl.modifications.decide(asked[1].id, approve=True, decided_by="lead")
        failed = await fl.modifications.fail(asked[1].id, error_message="conflict")
        assert (failed.status, failed.error_message) == (ModificationStatus.FAILED, "conflict")
        rejected = await fl.modifications.reject(asked[2].id, decided_by="lead", comment="no")
        assert (rejected.status, rejected.decision_comment) == (ModificationStatus.REJECTED, "no")
        assert await fl.modifications.get(asked[3].id) == asked[3]
        pending = await fl.modifications.list(project.id, status=ModificationStatus.PENDING)
        assert [m.id for m in pending.items] == [asked[3].id]
        page = await fl.modifications.list(project.id, limit=3)
        assert len(page.items) == 3
        assert page.next_cursor is not None


async def test_templates_render_and_become_projects(store: Store) -> None:
    async with client_for(store) as fl:
        template = await fl.templates.create(
            name="web",
            files={"README.md": "# {{name}}", "app.py": "print('{{greeting}}')"},
            required_variables=["name"],
            optional_variables=["greeting"],
            tags=["web"],
        )
        changed = await fl.templates.update(template.id, description="a web app", tags=["py"])
        assert (changed.description, changed.tags) == ("a web app", ["py"])
        assert await fl.templates.get(template.id) == changed
        rendered = await fl.templates.render(template.id, {"name": "Todo", "greeting": "hi"})
        assert rendered == {"README.md": "# Todo", "app.py": "print('hi')"}
        made = await fl.templates.create_project(
            template.id, name="todo", variables={"name": "Todo"}, owner="ann"
        )
        assert (made.project.name, made.project.owner, made.context.iteration) == (
            "todo",
            "ann",
            1,
        )
        assert made.context.codebase["files"]["README.md"] == "# Todo"
        assert [t.id for t in (await fl.templates.list(tag="py")).items] == [template.id]
        await fl.templates.delete(template.id)
        assert (await fl.templates.list()).items == []


async def test_recommendations_are_decided_and_carried_out(store: Store) -> None:
    async with client_for(store) as fl:
        made = [
            await fl.recommendations.create(
                recommendation_type="cost",
                title=f"Cache {i}",
                confidence_score=0.75,
                priority=Priority.HIGH if i == 0 else Priority.MEDIUM,
                estimated_savings=Decimal("120.50"),
            )
            for i in range(4)
        ]
        assert made[1].priority == Priority.MEDIUM  # the service's default
        assert made[0].estimated_savings == Decimal("120.50")
        waiting = await fl.recommendations.pending_approvals(limit=10)
        assert {a.recommendation_id for a in waiting} == {r.id for r in made}
        approval = await fl.recommendations.approve(made[0].id, decided_by="cfo")
        assert approval.status == ApprovalStatus.APPROVED
        await fl.recommendations.reject(made[1].id, decided_by="cfo", comment="later")
        await fl.recommendations.decide(made[2].id, approve=True, decided_by="cfo")
        assert [a.status for a in await fl.recommendations.approvals(made[1].id)] == [
            ApprovalStatus.REJECTED
        ]
        assert (await fl.recommendations.get(made[0].id)).status == RecommendationStatus.APPROVED
        high = await fl.recommendations.list(priority=Priority.HIGH)
        assert [r.id for r in high] == [made[0].id]

        done = await fl.optimizations.start(made[0].id, actor="ops")
        assert done.status == OptimizationStatus.QUEUED
        assert (await fl.optimizations.begin(done.id)).status == OptimizationStatus.EXECUTING
        assert (await fl.optimizations.report_progress(done.id, 40)).progress == 40
        completed = await fl.optimizations.complete(
            done.id, result={"hit_rate": 0.9}, actual_savings="99.99"
        )
        assert (completed.status, completed.actual_savings) == (
            OptimizationStatus.COMPLETED,
            Decimal("99.99"),
        )
        undone = await fl.optimizations.rollback(done.id, reason="too risky")
        assert undone.status == OptimizationStatus.ROLLED_BACK
        broken = await fl.optimizations.start(made[2].id)
        failed = await fl.optimizations.fail(broken.id, error_message="no cache server")
        assert failed.status == OptimizationStatus.FAILED
        assert await fl.optimizations.get(broken.id) == failed
        listed = await fl.optimizations.list(status=[OptimizationStatus.FAILED])
        assert [o.id for o in listed] == [broken.id]
        assert [o.id for o in await fl.optimizations.list(recommendation_id=made[0].id)] == [
            done.id
        ]


async def test_pull_requests_move_through_review_and_their_checks(store: Store) -> None:
    async with client_for(store) as fl:
        project = await fl.projects.create(name="prs", repository_url="https://git/prs")
        task = await fl.tasks.create(title="feature", project_id=project.id)
        pr = await fl.pull_requests.create(
            project_id=project.id,
            branch_name="feature",
            title="Add feature",
            task_id=task.id,
            pr_number=7,
        )
        assert (pr.status, pr.base_branch, pr.repository_url) == (
            PullRequestStatus.DRAFT,
            "main",
            "https://git/prs",
        )
        assert (await fl.pull_requests.open(pr.id)).status == PullRequestStatus.OPEN
        moved = await fl.pull_requests.request_changes(pr.id, actor="rev", comment="tests")
        assert moved.status == PullRequestStatus.CHANGES_REQUESTED
        await fl.pull_requests.transition(pr.id, PullRequestStatus.OPEN)
        await fl.pull_requests.record_check(pr.id, name="tests", status=ValidationStatus.FAILED)
        await fl.pull_requests.record_check(
            pr.id, name="lint", status="PASSED", details={"warnings": 0}
        )
        assert (await fl.pull_requests.approve(pr.id)).status == PullRequestStatus.APPROVED
        status = await fl.views.pr_validation_status(pr.id)
        assert (status.total_checks, status.failed_checks) == (2, 1)
        with pytest.raises(Conflict, match="tests is FAILED"):  # a failing check blocks it
            await fl.pull_requests.merge(pr.id)
        check = await fl.pull_requests.record_check(
            pr.id, name="tests", status=ValidationStatus.PASSED
        )
        assert [c.id for c in await fl.pull_requests.checks(pr.id)].count(check.id) == 1
        merged = await fl.pull_requests.merge(pr.id, actor="lead")
        assert (merged.status, merged.merged_at is not None) == (PullRequestStatus.MERGED, True)
        assert await fl.pull_requests.get(pr.id) == merged
        other = await fl.pull_requests.create(
            project_id=project.id, branch_name="spike", title="Spike"
        )
        closed = await fl.pull_requests.close(other.id, comment="not now")
        assert closed.status == PullRequestStatus.CLOSED
        mine = await fl.pull_requests.list(project_id=project.id, status=[PullRequestStatus.MERGED])
        assert [p.id for p in mine] == [pr.id]
        assert [p.id for p in await fl.pull_requests.list(task_id=task.id)] == [pr.id]


async def test_search_and_the_reporting_views(store: Store) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="Migrate the billing database", priority=5)
        await fl.tasks.create(title="Paint the fence")
        [hit] = await fl.search.tasks("billing", limit=5)
        assert (hit.task.id, hit.rank > 0) == (task.id, True)
        run = await fl.runs.start(task.id)
        await fl.agent_runs.record_usage(
            (await fl.agent_runs.start(run.id, agent_name="Coder")).id, tokens_in=5
        )
        active = await fl.views.active_tasks()
        assert {a.task_id for a in active} >= {task.id}
        await fl.runs.finish(run.id, status=RunStatus.COMPLETED)
        summary = await fl.views.task_execution_summary(task.id)
        assert (summary.total_executions, summary.successful_executions, summary.tokens_in) == (
            1,
            1,
            5,
        )
        overview = await fl.views.overview()
        assert overview.tasks_by_status[TaskStatus.COMPLETED] == 1
        assert overview.runs_by_status[RunStatus.COMPLETED] == 1
