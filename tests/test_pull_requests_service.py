"""Pull requests and their validation checks (seed 004), on both dialects."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from flightlog import Conflict, InvalidTransition, NotFound, ValidationError
from flightlog.enums import PullRequestStatus, ValidationStatus
from flightlog.models import Event, Project, PullRequest, PullRequestCheck
from flightlog.services.pull_requests import PULL_REQUEST_LIFECYCLE
from flightlog.store import Store
from flightlog.store.review_facades import PullRequests

P = PullRequestStatus
V = ValidationStatus
REPO = "https://github.com/acme/web"


@pytest.fixture
def prs(store: Store) -> PullRequests:
    return PullRequests(store)


async def _project(store: Store, name: str = "web", **kw: Any) -> Project:
    async with store.transaction() as s:
        project = Project(customer_id=store.customer_id, name=name, **kw)
        s.add(project)
    return project


@pytest.fixture
async def project(store: Store) -> Project:
    return await _project(store, repository_url=REPO, default_branch="develop")


async def _new(prs: PullRequests, project: Project, **kw: Any) -> PullRequest:
    fields: dict[str, Any] = {
        "project_id": project.id,
        "branch_name": f"feature/{uuid.uuid4().hex[:8]}",
        "title": "Add login page",
        **kw,
    }
    return await prs.create(**fields)


async def _snapshot(store: Store) -> tuple[Any, ...]:
    """Every pull request, check and event row, to compare before and after a refusal."""
    async with store.reader() as s:
        pulls = (
            await s.execute(
                select(
                    PullRequest.id,
                    PullRequest.status,
                    PullRequest.merged_at,
                    PullRequest.closed_at,
                    PullRequest.validation_results,
                    PullRequest.pr_number,
                ).order_by(PullRequest.id)
            )
        ).all()
        checks = (
            await s.execute(
                select(
                    PullRequestCheck.id,
                    PullRequestCheck.name,
                    PullRequestCheck.status,
                    PullRequestCheck.details,
                ).order_by(PullRequestCheck.id)
            )
        ).all()
        event_count = await s.scalar(select(func.count(Event.id)))
    return (tuple(map(tuple, pulls)), tuple(map(tuple, checks)), event_count)


async def _refused(
    store: Store, call: Callable[[], Awaitable[Any]], error: type[Exception]
) -> pytest.ExceptionInfo[Exception]:
    before = await _snapshot(store)
    with pytest.raises(error) as info:
        await call()
    assert await _snapshot(store) == before
    return info


async def _audit(store: Store, entity_id: uuid.UUID) -> list[Event]:
    async with store.reader() as s:
        stmt = select(Event).where(Event.entity_id == str(entity_id)).order_by(Event.id)
        return list((await s.scalars(stmt)).all())


def test_seed_004_lifecycle_table_is_exactly_the_documented_one() -> None:
    assert dict(PULL_REQUEST_LIFECYCLE.transitions) == {
        P.DRAFT: {P.OPEN, P.CLOSED},
        P.OPEN: {P.CHANGES_REQUESTED, P.APPROVED, P.CLOSED},
        P.CHANGES_REQUESTED: {P.OPEN, P.APPROVED, P.CLOSED},
        P.APPROVED: {P.MERGED, P.CHANGES_REQUESTED, P.CLOSED},
        P.MERGED: set(),
        P.CLOSED: set(),
    }


async def test_seed_004_create_is_a_draft_with_the_projects_defaults(
    store: Store, prs: PullRequests, project: Project
) -> None:
    task = await store.tasks.create(title="login")
    run = await store.runs.start(task.id)
    pr = await _new(
        prs,
        project,
        task_id=task.id,
        run_id=run.id,
        pr_number=42,
        description="Implements OAuth",
        author="engineer-agent",
    )
    loaded = await prs.get(pr.id)
    assert loaded.status is P.DRAFT
    assert (loaded.repository_url, loaded.base_branch) == (REPO, "develop")
    assert (loaded.task_id, loaded.run_id, loaded.pr_number) == (task.id, run.id, 42)
    assert (loaded.author, loaded.description) == ("engineer-agent", "Implements OAuth")
    assert loaded.validation_results == {}
    assert (loaded.merged_at, loaded.closed_at) == (None, None)
    [created] = await _audit(store, pr.id)
    assert (created.entity_type, created.actor) == ("PullRequest", "engineer-agent")
    assert (created.data or {})["to"] == "DRAFT"
    assert created.customer_id == store.customer_id
    explicit = await _new(prs, project, repository_url="https://git.example/x", base_branch="main")
    assert (explicit.repository_url, explicit.base_branch) == ("https://git.example/x", "main")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pr_number", 0),
        ("pr_number", -3),
        ("pr_number", True),
        ("title", "  "),
        ("branch_name", ""),
        ("branch_name", "b" * 256),
        ("description", 12),
    ],
)
async def test_bad_pull_request_fields_are_refused(
    store: Store, prs: PullRequests, project: Project, field: str, value: Any
) -> None:
    info = await _refused(store, lambda: _new(prs, project, **{field: value}), ValidationError)
    assert field in str(info.value)


async def test_a_repository_is_needed_and_numbers_are_unique_per_repository(
    store: Store, prs: PullRequests, project: Project
) -> None:
    bare = await _project(store, "bare")
    info = await _refused(store, lambda: _new(prs, bare), ValidationError)
    assert "repository_url" in str(info.value)
    await _new(prs, project, pr_number=7)
    info = await _refused(store, lambda: _new(prs, project, pr_number=7), Conflict)
    assert "#7" in str(info.value)
    same_number_elsewhere = await _new(prs, project, pr_number=7, repository_url=REPO + "-api")
    assert same_number_elsewhere.pr_number == 7


async def test_task_run_and_project_must_be_the_customers_and_agree(
    store: Store, other: Store, prs: PullRequests, project: Project
) -> None:
    their_task = await other.tasks.create(title="theirs")
    their_run = await other.runs.start(their_task.id)
    their_project = await _project(other, "theirs", repository_url=REPO)
    await _refused(store, lambda: _new(prs, their_project), NotFound)
    await _refused(store, lambda: _new(prs, project, task_id=their_task.id), NotFound)
    await _refused(store, lambda: _new(prs, project, run_id=their_run.id), NotFound)
    mine = await store.tasks.create(title="mine")
    unrelated = await store.tasks.create(title="unrelated")
    run = await store.runs.start(unrelated.id)
    info = await _refused(
        store, lambda: _new(prs, project, task_id=mine.id, run_id=run.id), ValidationError
    )
    assert "not a run of task" in str(info.value)


async def test_seed_004_draft_to_open_to_merged(
    store: Store, prs: PullRequests, project: Project
) -> None:
    pr = await _new(prs, project, pr_number=1)
    assert (await prs.open(pr.id, actor="engineer")).status is P.OPEN
    await prs.record_check(pr.id, name="tests", status=V.PASSED, details={"passed": 120})
    await prs.record_check(pr.id, name="lint", status="passed")
    assert (await prs.approve(pr.id, actor="reviewer", comment="LGTM")).status is P.APPROVED
    merged = await prs.merge(pr.id, actor="reviewer")
    assert merged.status is P.MERGED
    assert merged.merged_at is not None
    assert merged.closed_at is None
    trail = [e for e in await _audit(store, pr.id)]
    assert [((e.data or {})["from"], (e.data or {})["to"]) for e in trail] == [
        (None, "DRAFT"),
        ("DRAFT", "OPEN"),
        ("OPEN", "APPROVED"),
        ("APPROVED", "MERGED"),
    ]
    assert (trail[2].actor, (trail[2].data or {})["comment"]) == ("reviewer", "LGTM")
    assert [p.id for p in await prs.list(status="merged")] == [pr.id]


async def test_review_can_loop_through_requested_changes(
    store: Store, prs: PullRequests, project: Project
) -> None:
    pr = await _new(prs, project)
    await prs.record_check(pr.id, name="tests", status=V.PASSED)
    for step in (
        prs.open,
        prs.request_changes,
        prs.open,
        prs.approve,
        prs.request_changes,
        prs.approve,
    ):
        await step(pr.id)
    assert (await prs.get(pr.id)).status is P.APPROVED
    closed = await prs.close(pr.id, comment="superseded")
    assert closed.status is P.CLOSED
    assert closed.closed_at is not None
    assert closed.merged_at is None
    await _refused(store, lambda: prs.open(pr.id), InvalidTransition)


async def test_merging_needs_green_validation_and_names_what_blocks_it(
    store: Store, prs: PullRequests, project: Project
) -> None:
    pr = await _new(prs, project)
    await prs.open(pr.id)
    await prs.approve(pr.id)
    info = await _refused(store, lambda: prs.merge(pr.id), Conflict)
    assert "no validation checks" in str(info.value)
    await prs.record_check(pr.id, name="tests", status=V.FAILED, details={"failed": ["t1"]})
    await prs.record_check(pr.id, name="security", status=V.RUNNING)
    await prs.record_check(pr.id, name="lint", status=V.PASSED)
    await prs.record_check(pr.id, name="docs", status=V.SKIPPED)
    info = await _refused(store, lambda: prs.merge(pr.id), Conflict)
    message = str(info.value)
    assert "tests is FAILED" in message
    assert "security is RUNNING" in message
    assert "lint" not in message
    assert "docs" not in message
    await prs.record_check(pr.id, name="tests", status=V.PASSED)
    await prs.record_check(pr.id, name="security", status=V.PENDING)
    info = await _refused(store, lambda: prs.merge(pr.id), Conflict)
    assert "security is PENDING" in str(info.value)
    assert "tests" not in str(info.value)
    await prs.record_check(pr.id, name="security", status=V.PASSED)
    assert (await prs.merge(pr.id)).status is P.MERGED


async def test_seed_004_checks_are_upserted_and_mirrored_into_validation_results(
    store: Store, prs: PullRequests, project: Project
) -> None:
    pr = await _new(prs, project)
    first = await prs.record_check(pr.id, name="tests", status=V.RUNNING, actor="ci")
    again = await prs.record_check(
        pr.id, name="tests", status=V.FAILED, details={"failed": ["test_login"]}, actor="ci"
    )
    await prs.record_check(pr.id, name="lint", status=V.PASSED, details={"warnings": 2})
    assert again.id == first.id
    checks = await prs.checks(pr.id)
    assert [(c.name, c.status, c.details) for c in checks] == [
        ("lint", V.PASSED, {"warnings": 2}),
        ("tests", V.FAILED, {"failed": ["test_login"]}),
    ]
    results = (await prs.get(pr.id)).validation_results
    assert results["checks"] == {
        "lint": {"status": "PASSED", "details": {"warnings": 2}},
        "tests": {"status": "FAILED", "details": {"failed": ["test_login"]}},
    }
    assert datetime.fromisoformat(results["updated_at"]).tzinfo is not None
    assert set(results) == {"checks", "updated_at"}
    trail = await _audit(store, first.id)
    assert [((e.data or {})["from"], (e.data or {})["to"]) for e in trail] == [
        (None, "RUNNING"),
        ("RUNNING", "FAILED"),
    ]
    assert {e.entity_type for e in trail} == {"PullRequestCheck"}
    assert (trail[1].actor, (trail[1].data or {})["name"]) == ("ci", "tests")
    assert (trail[1].data or {})["pull_request_id"] == str(pr.id)


async def test_the_mirror_keeps_unrelated_keys(
    store: Store, prs: PullRequests, project: Project
) -> None:
    pr = await _new(prs, project)
    async with store.transaction() as s:
        row = await s.get(PullRequest, pr.id)
        assert row is not None
        row.validation_results = {"coverage": 91.5}
    await prs.record_check(pr.id, name="tests", status=V.PASSED)
    results = (await prs.get(pr.id)).validation_results
    assert results["coverage"] == 91.5
    assert results["checks"] == {"tests": {"status": "PASSED", "details": {}}}


@pytest.mark.parametrize(
    "kw",
    [
        {"name": "", "status": "PASSED"},
        {"name": "x" * 256, "status": "PASSED"},
        {"name": "tests", "status": "GREEN"},
        {"name": "tests", "status": "PASSED", "details": ["no"]},
    ],
)
async def test_bad_checks_are_refused(
    store: Store, prs: PullRequests, project: Project, kw: dict[str, Any]
) -> None:
    pr = await _new(prs, project)
    await _refused(store, lambda: prs.record_check(pr.id, **kw), ValidationError)


@pytest.mark.parametrize("final", [P.MERGED, P.CLOSED])
async def test_checks_of_a_finished_pull_request_are_frozen(
    store: Store, prs: PullRequests, project: Project, final: PullRequestStatus
) -> None:
    pr = await _new(prs, project)
    await prs.record_check(pr.id, name="tests", status=V.PASSED)
    await prs.open(pr.id)
    await prs.approve(pr.id)
    await prs.transition(pr.id, final)
    info = await _refused(
        store, lambda: prs.record_check(pr.id, name="tests", status=V.FAILED), Conflict
    )
    assert final.value in str(info.value)


async def test_unknown_target_status_is_a_validation_error(
    store: Store, prs: PullRequests, project: Project
) -> None:
    pr = await _new(prs, project)
    await _refused(store, lambda: prs.transition(pr.id, "shipped"), ValidationError)


PATHS: dict[PullRequestStatus, list[PullRequestStatus]] = {
    P.DRAFT: [],
    P.OPEN: [P.OPEN],
    P.CHANGES_REQUESTED: [P.OPEN, P.CHANGES_REQUESTED],
    P.APPROVED: [P.OPEN, P.APPROVED],
    P.MERGED: [P.OPEN, P.APPROVED, P.MERGED],
    P.CLOSED: [P.CLOSED],
}


@pytest.mark.parametrize("state", list(PATHS))
async def test_every_transition_from_every_status_follows_the_table(
    store: Store, prs: PullRequests, project: Project, state: PullRequestStatus
) -> None:
    """Checks are green, so only the table decides; a refusal writes nothing."""
    assert set(PATHS) == set(PullRequestStatus)
    for target in PullRequestStatus:
        pr = await _new(prs, project)
        await prs.record_check(pr.id, name="tests", status=V.PASSED)
        for step in PATHS[state]:
            await prs.transition(pr.id, step)
        assert (await prs.get(pr.id)).status is state
        if PULL_REQUEST_LIFECYCLE.allowed(state, target):
            moved = await prs.transition(pr.id, target)
            assert moved.status is target
            assert (moved.merged_at is not None) == (target is P.MERGED)
            assert (moved.closed_at is not None) == (target is P.CLOSED)
        else:
            info = await _refused(
                store, lambda p=pr.id, t=target: prs.transition(p, t), InvalidTransition
            )
            assert isinstance(info.value, InvalidTransition)
            assert (info.value.from_status, info.value.to_status) == (state.value, target.value)


async def test_another_customers_pull_requests_are_invisible(
    store: Store, other: Store, prs: PullRequests, project: Project
) -> None:
    theirs = PullRequests(other)
    their_project = await _project(other, "theirs", repository_url=REPO + "-theirs")
    their_pr = await _new(theirs, their_project)
    await theirs.record_check(their_pr.id, name="tests", status=V.PASSED)
    await theirs.open(their_pr.id)
    await theirs.approve(their_pr.id)
    mine = await _new(prs, project)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: prs.get(their_pr.id),
        lambda: prs.checks(their_pr.id),
        lambda: prs.merge(their_pr.id),
        lambda: prs.close(their_pr.id),
        lambda: prs.record_check(their_pr.id, name="tests", status=V.FAILED),
    ]
    for call in calls:
        info = await _refused(store, call, NotFound)
        assert str(their_project.id) not in str(info.value)
    assert [p.id for p in await prs.list()] == [mine.id]
    # A filter naming another customer's project is refused like a missing one.
    await _refused(store, lambda: prs.list(project_id=their_project.id), NotFound)
    assert [p.id for p in await theirs.list(status=["APPROVED"])] == [their_pr.id]


async def test_lists_filter_by_project_task_and_status(
    store: Store, prs: PullRequests, project: Project
) -> None:
    api = await _project(store, "api", repository_url=REPO + "-api")
    task = await store.tasks.create(title="t")
    a = await _new(prs, project, task_id=task.id)
    b = await _new(prs, api)
    await prs.open(b.id)
    assert [p.id for p in await prs.list()] == [b.id, a.id]
    assert [p.id for p in await prs.list(project_id=api.id)] == [b.id]
    assert [p.id for p in await prs.list(task_id=task.id)] == [a.id]
    assert [p.id for p in await prs.list(status=[P.DRAFT, P.OPEN])] == [b.id, a.id]
    assert [p.id for p in await prs.list(status="open")] == [b.id]
    with pytest.raises(ValidationError):
        await prs.list(status="weird")


async def test_two_customers_can_track_the_same_pull_request(
    store: Store, other: Store, prs: PullRequests, project: Project
) -> None:
    """PR numbers are unique per project: another tenant's PR #7 neither clashes nor leaks."""
    mine = await _new(prs, project, pr_number=7)
    their_project = await _project(other, repository_url=REPO)
    theirs = await _new(PullRequests(other), their_project, pr_number=7)
    assert (mine.repository_url, mine.pr_number) == (theirs.repository_url, theirs.pr_number)
    assert mine.id != theirs.id
