"""Full-text search over tasks and the three reporting views (seed 004), on both dialects."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql

from flightlog import NotFound, ValidationError
from flightlog.db.base import Base
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import PullRequestStatus, RunStatus, TaskStatus, ValidationStatus
from flightlog.models import Project, Task
from flightlog.services import search as search_service
from flightlog.services import views as view_service
from flightlog.services.views import ValidationState
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.store.review_facades import PullRequests, Search, Views
from scenario import run_in_rolled_back_store

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Strings that are syntax to FTS5 or tsquery, and one that would be SQL if interpolated.
HOSTILE_QUERIES = [
    '"unbalanced',
    "auth*",
    "title:login",
    "NEAR(login page)",
    "login OR page",
    "login AND NOT page",
    "(login",
    "^login",
    "-login",
    "login -page",
    '""""',
    "*",
    ":",
    "'; DROP TABLE tasks; --",
    "a\x00b",
    "\x00",
    "!!! & | <-> :*",
]


async def _fillers(store: Store, count: int = 4) -> None:
    """Unrelated tasks, so a searched word is rare (bm25's IDF needs non-matching rows)."""
    for i in range(count):
        await store.tasks.create(title=f"Write release notes {i}", description="changelog")


# --- search ------------------------------------------------------------------------------


async def test_seed_004_search_covers_title_description_and_prompt(store: Store) -> None:
    search = Search(store)
    await _fillers(store)
    titled = await store.tasks.create(title="Harden kubernetes cluster")
    described = await store.tasks.create(title="Ops", description="kubernetes upgrade")
    prompted = await store.tasks.create(title="Prompted", input_prompt="deploy with kubernetes")
    found = {task.id for task, _ in await search.tasks("kubernetes")}
    assert found == {titled.id, described.id, prompted.id}
    assert [t.id for t, _ in await search.tasks("upgrade")] == [described.id]


async def test_seed_004_a_task_matching_more_ranks_higher(store: Store) -> None:
    search = Search(store)
    await _fillers(store)
    once = await store.tasks.create(title="Refactor login", description="touches authentication")
    twice = await store.tasks.create(
        title="Fix authentication", description="authentication tokens expire"
    )
    results = await search.tasks("authentication")
    assert [t.id for t, _ in results] == [twice.id, once.id]
    assert results[0][1] > results[1][1]
    assert all(isinstance(rank, float) for _, rank in results)


async def test_seed_004_search_stems_words(store: Store) -> None:
    search = Search(store)
    await _fillers(store)
    task = await store.tasks.create(title="Add authentication", description="Users connected")
    assert [t.id for t, _ in await search.tasks("authenticate")] == [task.id]
    assert [t.id for t, _ in await search.tasks("connecting users")] == [task.id]


async def test_every_word_must_match(store: Store) -> None:
    search = Search(store)
    both = await store.tasks.create(title="Rotate secrets", description="for authentication")
    await store.tasks.create(title="Rotate logs")
    assert [t.id for t, _ in await search.tasks("rotate authentication")] == [both.id]
    assert len(await search.tasks("rotate")) == 2


async def test_search_is_scoped_to_the_customer(store: Store, other: Store) -> None:
    mine = await store.tasks.create(title="Billing export")
    theirs = await other.tasks.create(title="Billing export for them")
    assert [t.id for t, _ in await Search(store).tasks("billing")] == [mine.id]
    assert [t.id for t, _ in await Search(other).tasks("billing")] == [theirs.id]


async def test_search_follows_edits(store: Store) -> None:
    search = Search(store)
    task = await store.tasks.create(title="Draft")
    assert await search.tasks("terraform") == []
    await store.tasks.update(task.id, description="terraform modules")
    assert [t.id for t, _ in await search.tasks("terraform")] == [task.id]


@pytest.mark.parametrize("query", ["", "   ", "\n\t "])
async def test_a_blank_query_is_a_validation_error(store: Store, query: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        await Search(store).tasks(query)


async def test_limit_is_bounded_and_applied(store: Store) -> None:
    search = Search(store)
    for i in range(3):
        await store.tasks.create(title=f"Migrate service {i}")
    assert len(await search.tasks("migrate", limit=2)) == 2
    for bad in (0, search_service.MAX_RESULTS + 1):
        with pytest.raises(ValidationError, match="limit"):
            await search.tasks("migrate", limit=bad)


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
async def test_query_syntax_in_user_text_never_raises(store: Store, query: str) -> None:
    login = await store.tasks.create(title="Login page", description="auth title")
    results = await Search(store).tasks(query)
    assert all(task.customer_id == store.customer_id for task, _ in results)
    async with store.reader() as s:
        assert await s.get(Task, login.id) is not None


def test_fts5_terms_are_quoted_strings() -> None:
    assert search_service.fts5_query(['say"hi', "NEAR(a", "x*"]) == '"say""hi" "NEAR(a" "x*"'
    assert search_service.terms(" a\x00b  c ") == ["a", "b", "c"]


@pytest.mark.postgres_only
async def test_postgres_search_uses_the_gin_index(store: Store, dialect: str) -> None:
    """With a rare word among many tasks, the planner picks ix_tasks_search_gin: the
    statement spells the indexed expression exactly."""
    await store.tasks.create(title="Harden authentication")
    async with store.transaction() as s:
        rows = [
            {"customer_id": store.customer_id, "title": f"Release notes {i}"} for i in range(500)
        ]
        await s.execute(insert(Task), rows)
        await s.execute(text("ANALYZE tasks"))
    stmt = search_service.search_statement(
        "postgresql", "authentication", customer_id=store.customer_id
    )
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert "to_tsvector('english', coalesce(title, '')" in sql
    assert "websearch_to_tsquery('english'" in sql
    async with store.reader() as s:
        plan = "\n".join(row[0] for row in await s.execute(text("EXPLAIN " + sql)))
    assert "ix_tasks_search_gin" in plan


@pytest.mark.sqlite_only
async def test_sqlite_search_binds_the_quoted_query(store: Store, dialect: str) -> None:
    stmt = search_service.search_statement("sqlite", 'a"b OR', customer_id=store.customer_id)
    compiled = stmt.compile()
    assert compiled.params["q"] == '"a""b" "OR"'
    assert 'a"b' not in str(compiled)


@PROPERTY_SETTINGS
@given(queries=st.lists(st.text(), min_size=1, max_size=8))
@example(queries=HOSTILE_QUERIES)
def test_any_text_searches_or_is_refused_as_blank(
    db_url: DatabaseUrl, test_settings: Settings, queries: list[str]
) -> None:
    async def scenario(store: Store) -> None:
        await store.tasks.create(title="Login page", description="OAuth authentication")
        search = Search(store)
        for query in queries:
            if query.strip():
                results = await search.tasks(query)
                assert all(task.customer_id == store.customer_id for task, _ in results)
            else:
                with pytest.raises(ValidationError):
                    await search.tasks(query)

    run_in_rolled_back_store(db_url, test_settings, scenario)


# --- views -------------------------------------------------------------------------------


def test_views_are_not_in_the_orm_metadata() -> None:
    names = {"active_tasks", "task_execution_summary", "pr_validation_status"}
    assert set(view_service.view_metadata.tables) == names
    assert not names & set(Base.metadata.tables)


async def _project(store: Store, name: str, **kw: Any) -> Project:
    async with store.transaction() as s:
        project = Project(customer_id=store.customer_id, name=name, **kw)
        s.add(project)
    return project


async def _run(store: Store, task_id: uuid.UUID, outcome: RunStatus | None, tokens: int) -> None:
    """A run started and (unless ``outcome`` is None) finished through store.runs."""
    run = await store.runs.start(task_id)
    step = await store.agent_runs.start(run.id, agent_name="Engineer")
    await store.agent_runs.finish(
        step.id, tokens_in=tokens, tokens_out=tokens // 2, cost_usd=Decimal(tokens) / 1000
    )
    if outcome is not None:
        await store.runs.finish(run.id, status=outcome, error_message="boom")


async def _workload(store: Store) -> dict[str, Task]:
    project = await _project(store, "web", repository_url="https://github.com/acme/web")
    t = store.tasks
    done = await t.create(title="done", project_id=project.id, priority=1)
    for outcome, tokens in [
        (RunStatus.COMPLETED, 100),
        (RunStatus.FAILED, 30),
        (RunStatus.TIMEOUT, 7),
        (RunStatus.CANCELLED, 11),
        (RunStatus.COMPLETED, 250),
    ]:
        await _run(store, done.id, outcome, tokens)
    running = await t.create(title="running", priority=5)
    await _run(store, running.id, RunStatus.FAILED, 5)
    await _run(store, running.id, None, 40)
    blocked = await t.create(title="blocked", project_id=project.id, depends_on=[running.id])
    ready = await t.create(title="ready", depends_on=[done.id], priority=5)
    child = await t.create(title="child", parent_task_id=blocked.id)
    cancelled = await t.create(title="cancelled")
    await t.cancel(cancelled.id)
    return {
        "done": done,
        "running": running,
        "blocked": blocked,
        "ready": ready,
        "child": child,
        "cancelled": cancelled,
    }


async def test_seed_004_active_tasks_view_equals_the_rows(store: Store, other: Store) -> None:
    await _workload(store)
    await other.tasks.create(title="not mine")
    rows = (await store.tasks.list(limit=500)).items
    async with store.reader() as s:
        projects = {p.id: p.name for p in (await s.scalars(select(Project))).all()}
    status_of = {task.id: task.status for task in rows}
    expected = []
    for task in rows:
        if task.status not in (TaskStatus.PENDING, TaskStatus.RUNNING):
            continue
        deps = await store.tasks.dependencies(task.id)
        expected.append(
            view_service.ActiveTask(
                task_id=task.id,
                customer_id=task.customer_id,
                project_id=task.project_id,
                project_name=projects.get(task.project_id) if task.project_id else None,
                parent_task_id=task.parent_task_id,
                title=task.title,
                status=task.status,
                priority=task.priority,
                assigned_agent_id=task.assigned_agent_id,
                assigned_agent_type=task.assigned_agent_type,
                claimed_by=task.claimed_by,
                lease_expires_at=task.lease_expires_at,
                total_runs=task.total_runs,
                created_at=task.created_at,
                updated_at=task.updated_at,
                open_dependencies=sum(status_of[d.id] is not TaskStatus.COMPLETED for d in deps),
            )
        )
    expected.sort(key=lambda a: (-a.priority, a.created_at, a.task_id))
    actual = await Views(store).active_tasks()
    assert sorted(actual, key=lambda a: a.task_id) == sorted(expected, key=lambda a: a.task_id)
    assert [a.task_id for a in actual][:2] == [a.task_id for a in expected][:2]
    assert {a.title for a in actual} == {"running", "blocked", "ready", "child"}
    assert {a.title: a.open_dependencies for a in actual}["blocked"] == 1
    assert {a.title: a.project_name for a in actual}["blocked"] == "web"


def _assert_same_summary(
    actual: view_service.TaskExecutionSummary, expected: view_service.TaskExecutionSummary
) -> None:
    """Equal field by field; the average is a float sum whose order the database chooses."""
    assert actual.avg_duration_seconds == pytest.approx(expected.avg_duration_seconds)
    assert replace(actual, avg_duration_seconds=None) == replace(
        expected, avg_duration_seconds=None
    ), expected.title


async def test_seed_004_task_execution_summary_view_equals_the_runs(
    store: Store, other: Store
) -> None:
    tasks = await _workload(store)
    theirs = await other.tasks.create(title="theirs")
    await _run(other, theirs.id, RunStatus.COMPLETED, 9)
    views = Views(store)
    summaries = {s.task_id: s for s in await views.task_execution_summaries()}
    assert set(summaries) == {task.id for task in tasks.values()}
    for task in tasks.values():
        runs = await store.runs.list(task.id)
        fresh = await store.tasks.get(task.id)
        durations = [r.duration_seconds for r in runs if r.duration_seconds is not None]
        started = [r.started_at for r in runs if r.started_at is not None]
        completed = [r.completed_at for r in runs if r.completed_at is not None]
        count = [r.status for r in runs].count
        expected = view_service.TaskExecutionSummary(
            task_id=task.id,
            customer_id=store.customer_id,
            project_id=task.project_id,
            title=task.title,
            status=fresh.status,
            total_executions=len(runs),
            successful_executions=count(RunStatus.COMPLETED),
            failed_executions=count(RunStatus.FAILED) + count(RunStatus.TIMEOUT),
            cancelled_executions=count(RunStatus.CANCELLED),
            active_executions=count(RunStatus.RUNNING)
            + count(RunStatus.PENDING)
            + count(RunStatus.WAITING_APPROVAL),
            avg_duration_seconds=statistics.fmean(durations) if durations else None,
            max_duration_seconds=max(durations) if durations else None,
            last_started_at=max(started) if started else None,
            last_completed_at=max(completed) if completed else None,
            tokens_in=sum(r.tokens_in for r in runs),
            tokens_out=sum(r.tokens_out for r in runs),
            cost_usd=sum((r.cost_usd for r in runs), Decimal(0)),
        )
        _assert_same_summary(summaries[task.id], expected)
        _assert_same_summary(await views.task_execution_summary(task.id), expected)
    done = summaries[tasks["done"].id]
    assert (done.total_executions, done.successful_executions, done.failed_executions) == (5, 2, 2)
    assert (done.cancelled_executions, done.tokens_in) == (1, 398)
    assert summaries[tasks["running"].id].active_executions == 1
    with pytest.raises(NotFound):
        await views.task_execution_summary(theirs.id)


async def test_seed_004_pr_validation_status_view_equals_the_checks(
    store: Store, other: Store
) -> None:
    project = await _project(store, "web", repository_url="https://github.com/acme/web")
    task = await store.tasks.create(title="login")
    prs = PullRequests(store)
    V = ValidationStatus  # noqa: N806
    plan: dict[str, list[tuple[str, ValidationStatus]]] = {
        "green": [("tests", V.RUNNING), ("tests", V.PASSED), ("lint", V.PASSED)],
        "red": [("tests", V.FAILED), ("lint", V.PASSED), ("docs", V.SKIPPED)],
        "waiting": [("tests", V.PASSED), ("security", V.PENDING)],
        "skipped": [("docs", V.SKIPPED)],
        "unchecked": [],
    }
    made = {}
    for number, (title, checks) in enumerate(plan.items(), start=1):
        pr = await prs.create(
            project_id=project.id, branch_name=title, title=title, pr_number=number, task_id=task.id
        )
        for name, status in checks:
            await prs.record_check(pr.id, name=name, status=status, details={"by": "ci"})
        made[title] = pr
    await prs.open(made["green"].id)
    await prs.approve(made["green"].id)
    await prs.merge(made["green"].id)
    their_project = await _project(other, "theirs", repository_url="https://x/theirs")
    their_pr = await PullRequests(other).create(
        project_id=their_project.id, branch_name="b", title="theirs"
    )
    views = Views(store)
    statuses = {s.pull_request_id: s for s in await views.pr_validation_statuses()}
    assert set(statuses) == {pr.id for pr in made.values()}
    for pr in made.values():
        checks = await prs.checks(pr.id)
        fresh = await prs.get(pr.id)
        outcomes = [c.status for c in checks]
        failed = outcomes.count(V.FAILED)
        pending = outcomes.count(V.PENDING) + outcomes.count(V.RUNNING)
        state = (
            ValidationState.NOT_RUN
            if not checks
            else ValidationState.FAILED
            if failed
            else ValidationState.PENDING
            if pending
            else ValidationState.PASSED
        )
        expected = view_service.PrValidationStatus(
            pull_request_id=pr.id,
            project_id=project.id,
            task_id=task.id,
            pr_number=fresh.pr_number,
            repository_url=fresh.repository_url,
            branch_name=fresh.branch_name,
            title=fresh.title,
            status=fresh.status,
            total_checks=len(checks),
            passed_checks=outcomes.count(V.PASSED),
            failed_checks=failed,
            pending_checks=pending,
            skipped_checks=outcomes.count(V.SKIPPED),
            validation_state=state,
            last_checked_at=max((c.updated_at for c in checks), default=None),
        )
        assert statuses[pr.id] == expected, fresh.title
        assert await views.pr_validation_status(pr.id) == expected
    states = {s.title: s.validation_state for s in statuses.values()}
    assert states == {
        "green": "PASSED",
        "red": "FAILED",
        "waiting": "PENDING",
        "skipped": "PASSED",
        "unchecked": "NOT_RUN",
    }
    assert statuses[made["green"].id].status is PullRequestStatus.MERGED
    assert [s.title for s in await views.pr_validation_statuses(state="failed")] == ["red"]
    with pytest.raises(ValidationError):
        await views.pr_validation_statuses(state="purple")
    with pytest.raises(NotFound):
        await views.pr_validation_status(their_pr.id)
    theirs = await Views(other).pr_validation_statuses()
    assert [s.pull_request_id for s in theirs] == [their_pr.id]


async def test_view_lists_filter_by_project_and_bound_limits(store: Store) -> None:
    web = await _project(store, "web")
    api = await _project(store, "api")
    a = await store.tasks.create(title="a", project_id=web.id)
    await store.tasks.create(title="b", project_id=api.id)
    views = Views(store)
    assert [x.task_id for x in await views.active_tasks(project_id=web.id)] == [a.id]
    assert [x.task_id for x in await views.task_execution_summaries(project_id=web.id)] == [a.id]
    assert len(await views.active_tasks(limit=1)) == 1
    with pytest.raises(ValidationError):
        await views.active_tasks(limit=0)
