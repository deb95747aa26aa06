"""Projects (seeds 003, 004) and their per-iteration contexts (seed 003), on both dialects."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from concurrency import run_in_threads
from flightlog import Conflict, NotFound, ValidationError
from flightlog.db.urls import DatabaseUrl
from flightlog.models import (
    Artifact,
    ArtifactBlob,
    Modification,
    Project,
    ProjectContext,
    Task,
)
from flightlog.settings import Settings
from flightlog.store import Store, open_store
from flightlog.store.project_facades import Modifications, ProjectContexts, Projects


async def _count(store: Store, model: Any, *where: Any) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- projects ---------------------------------------------------------------------------


async def test_seed_004_project_fields_and_defaults(store: Store) -> None:
    """Seed 004: repository url/name, default branch 'main', settings JSON; owner (seed 003)."""
    projects = Projects(store)
    bare = await projects.create(name="bare")
    assert bare.default_branch == "main"
    assert bare.settings == {}
    assert bare.customer_id == store.customer_id
    assert bare.created_at.tzinfo is not None
    full = await projects.create(
        name="shop",
        description="web shop",
        repository_url="https://github.com/acme/shop",
        repository_name="acme/shop",
        default_branch="develop",
        settings={"ci": {"provider": "github"}},
        owner="alice",
    )
    loaded = await projects.get(full.id)
    assert (loaded.repository_url, loaded.repository_name, loaded.default_branch) == (
        "https://github.com/acme/shop",
        "acme/shop",
        "develop",
    )
    assert loaded.settings == {"ci": {"provider": "github"}}
    assert (loaded.description, loaded.owner) == ("web shop", "alice")
    assert (await projects.get_by_name("shop")).id == full.id
    with pytest.raises(NotFound):
        await projects.get_by_name("nope")
    with pytest.raises(NotFound):
        await projects.get(uuid.uuid4())


async def test_names_are_unique_per_customer_not_globally(store: Store, other: Store) -> None:
    mine = Projects(store)
    first = await mine.create(name="web")
    with pytest.raises(Conflict, match="web"):
        await mine.create(name="web", description="second")
    assert [p.id for p in (await mine.list()).items] == [first.id]
    theirs = await Projects(other).create(name="web")
    assert theirs.id != first.id
    assert (await Projects(other).get_by_name("web")).id == theirs.id
    assert (await mine.get_by_name("web")).id == first.id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "ok", "default_branch": ""}, "default_branch"),
        ({"name": "ok", "settings": ["a"]}, "settings"),
        ({"name": "ok", "repository_url": "u" * 501}, "repository_url"),
        ({"name": "ok", "owner": 7}, "owner"),
    ],
)
async def test_bad_project_input_is_refused_and_writes_nothing(
    store: Store, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await Projects(store).create(**fields)
    assert await _count(store, Project, Project.customer_id == store.customer_id) == 0


async def test_update_changes_fields_and_refuses_a_taken_name(store: Store) -> None:
    projects = Projects(store)
    a = await projects.create(name="a")
    b = await projects.create(name="b", owner="bob")
    updated = await projects.update(b.id, description="now described", settings={"k": 1})
    assert (updated.description, updated.settings, updated.owner) == (
        "now described",
        {"k": 1},
        "bob",
    )
    with pytest.raises(Conflict, match="'a'"):
        await projects.update(b.id, name="a")
    assert (await projects.get(b.id)).name == "b"
    # Not a parameter: mypy refuses the call, and at run time Python does.
    with pytest.raises(TypeError, match="unexpected keyword argument 'created_at'"):
        await projects.update(b.id, created_at=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        await projects.create(name="c", colour="red")  # type: ignore[call-arg]
    renamed = await projects.update(a.id, name="a2")
    assert (await projects.get_by_name("a2")).id == renamed.id == a.id
    assert (await projects.update(a.id, name="a2")).name == "a2"  # renaming to itself is fine


async def test_list_pages_newest_first_and_filters_by_owner(store: Store) -> None:
    projects = Projects(store)
    made = [
        await projects.create(name=f"p{i}", owner="alice" if i % 2 else "bob") for i in range(5)
    ]
    first = await projects.list(limit=2)
    second = await projects.list(limit=2, cursor=first.next_cursor)
    third = await projects.list(limit=2, cursor=second.next_cursor)
    seen = [p.id for page in (first, second, third) for p in page.items]
    assert seen == [p.id for p in reversed(made)]
    assert third.next_cursor is None
    alice = await projects.list(owner="alice")
    assert [p.name for p in alice.items] == ["p3", "p1"]
    with pytest.raises(ValidationError, match="limit"):
        await projects.list(limit=0)


async def test_delete_cascades_to_everything_the_project_owns(store: Store) -> None:
    projects, contexts = Projects(store), ProjectContexts(store)
    doomed = await projects.create(name="doomed")
    keeper = await projects.create(name="keeper")
    await contexts.add_iteration(doomed.id, codebase={"a": 1})
    await contexts.add_iteration(keeper.id)
    await Modifications(store).request(doomed.id, request="rename module")
    task = await store.tasks.create(title="build", project_id=doomed.id)
    child = await store.tasks.create(title="child", parent_task_id=task.id)
    big = b"x" * (store.settings.inline_artifact_max_bytes + 10)
    artifact = await store.artifacts.put(child.id, "big.bin", big)
    async with store.reader() as s:
        blob = await s.get(ArtifactBlob, artifact.sha256)
    assert blob is not None
    assert blob.storage_path is not None
    blob_file = store.settings.blob_dir / blob.storage_path
    assert blob_file.exists()

    result = await projects.delete(doomed.id)

    assert result.blobs_deleted == 1
    assert result.files_to_remove == [blob.storage_path]
    assert not blob_file.exists()
    with pytest.raises(NotFound):
        await projects.get(doomed.id)
    assert await _count(store, ProjectContext, ProjectContext.project_id == doomed.id) == 0
    assert await _count(store, Modification, Modification.project_id == doomed.id) == 0
    assert await _count(store, Task, Task.id.in_([task.id, child.id])) == 0
    assert await _count(store, Artifact, Artifact.id == artifact.id) == 0
    assert await _count(store, ArtifactBlob, ArtifactBlob.sha256 == artifact.sha256) == 0
    assert [c.iteration for c in await contexts.list(keeper.id)] == [1]
    with pytest.raises(NotFound):
        await projects.delete(doomed.id)


async def test_customers_cannot_touch_each_others_projects(store: Store, other: Store) -> None:
    mine = await Projects(store).create(name="private", owner="me")
    theirs = Projects(other)
    with pytest.raises(NotFound):
        await theirs.get(mine.id)
    with pytest.raises(NotFound):
        await theirs.get_by_name("private")
    with pytest.raises(NotFound):
        await theirs.update(mine.id, description="hijacked")
    with pytest.raises(NotFound):
        await theirs.delete(mine.id)
    assert (await theirs.list()).items == []
    loaded = await Projects(store).get(mine.id)
    assert loaded.description is None
    assert [p.id for p in (await Projects(store).list()).items] == [mine.id]


# --- project contexts -------------------------------------------------------------------


async def test_seed_003_contexts_per_iteration_with_scores(store: Store) -> None:
    """Seed 003: each iteration keeps codebase, configuration and the three quality scores."""
    projects, contexts = Projects(store), ProjectContexts(store)
    app = await projects.create(name="app")
    lib = await projects.create(name="lib")
    assert await contexts.latest(app.id) is None
    first = await contexts.add_iteration(
        app.id,
        codebase={"files": {"main.py": "print(1)"}},
        configuration={"python": "3.11"},
        test_coverage=61.5,
        security_score=80,
        performance_score=70.25,
        owner_id="agent-1",
        notes="scaffold",
    )
    second = await contexts.add_iteration(app.id, test_coverage=75.0)
    lib_first = await contexts.add_iteration(lib.id)
    assert (first.iteration, second.iteration, lib_first.iteration) == (1, 2, 1)
    loaded = await contexts.get(app.id, 1)
    assert loaded.codebase == {"files": {"main.py": "print(1)"}}
    assert loaded.configuration == {"python": "3.11"}
    assert (loaded.test_coverage, loaded.security_score, loaded.performance_score) == (
        61.5,
        80.0,
        70.25,
    )
    assert (loaded.owner_id, loaded.notes) == ("agent-1", "scaffold")
    newest = await contexts.latest(app.id)
    assert newest is not None
    assert newest.id == second.id
    assert [c.iteration for c in await contexts.list(app.id)] == [1, 2]
    with pytest.raises(NotFound, match="iteration 3"):
        await contexts.get(app.id, 3)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("test_coverage", -0.1),
        ("test_coverage", 100.01),
        ("security_score", 101),
        ("performance_score", "high"),
        ("performance_score", True),
        ("security_score", math.nan),
        ("test_coverage", math.inf),
    ],
)
async def test_scores_outside_0_to_100_are_refused_before_the_database(
    store: Store, field: str, value: Any
) -> None:
    project = await Projects(store).create(name="scored")
    contexts = ProjectContexts(store)
    with pytest.raises(ValidationError, match=field):
        await contexts.add_iteration(project.id, **{field: value})
    assert await contexts.list(project.id) == []
    edge = await contexts.add_iteration(project.id, **{field: 0})
    top = await contexts.add_iteration(project.id, **{field: 100})
    assert (getattr(edge, field), getattr(top, field)) == (0.0, 100.0)
    assert edge.iteration == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"codebase": ["a.py"]}, "codebase"),
        ({"configuration": "debug"}, "configuration"),
        ({"owner_id": "o" * 256}, "owner_id"),
    ],
)
async def test_bad_context_input_writes_nothing(
    store: Store, fields: dict[str, Any], message: str
) -> None:
    project = await Projects(store).create(name="p")
    with pytest.raises(ValidationError, match=message):
        await ProjectContexts(store).add_iteration(project.id, **fields)
    assert await _count(store, ProjectContext, ProjectContext.project_id == project.id) == 0


async def test_compare_reports_score_deltas_and_key_changes(store: Store) -> None:
    project = await Projects(store).create(name="cmp")
    contexts = ProjectContexts(store)
    await contexts.add_iteration(
        project.id,
        codebase={"main.py": "v1", "old.py": "x", "util.py": "same"},
        configuration={"debug": True, "db": "sqlite"},
        test_coverage=50.0,
        security_score=90.0,
    )
    await contexts.add_iteration(
        project.id,
        codebase={"main.py": "v2", "util.py": "same", "new.py": "y", "api.py": "z"},
        configuration={"debug": True, "db": "sqlite"},
        test_coverage=72.5,
        security_score=85.0,
        performance_score=60.0,
    )
    diff = await contexts.compare(project.id, 1, 2)
    assert (diff.from_iteration, diff.to_iteration) == (1, 2)
    assert diff.score_deltas == {
        "test_coverage": pytest.approx(22.5),
        "security_score": pytest.approx(-5.0),
        "performance_score": None,
    }
    assert diff.codebase.added == ["api.py", "new.py"]
    assert diff.codebase.removed == ["old.py"]
    assert diff.codebase.changed == ["main.py"]
    assert diff.configuration.unchanged
    backwards = await contexts.compare(project.id, 2, 1)
    assert backwards.score_deltas["test_coverage"] == pytest.approx(-22.5)
    assert backwards.codebase.added == ["old.py"]
    with pytest.raises(NotFound):
        await contexts.compare(project.id, 1, 5)


async def test_customers_cannot_touch_each_others_contexts(store: Store, other: Store) -> None:
    mine = await Projects(store).create(name="mine")
    await ProjectContexts(store).add_iteration(mine.id, test_coverage=10)
    await ProjectContexts(store).add_iteration(mine.id, test_coverage=20)
    theirs = ProjectContexts(other)
    with pytest.raises(NotFound):
        await theirs.add_iteration(mine.id, test_coverage=99)
    with pytest.raises(NotFound):
        await theirs.latest(mine.id)
    with pytest.raises(NotFound):
        await theirs.get(mine.id, 1)
    with pytest.raises(NotFound):
        await theirs.list(mine.id)
    with pytest.raises(NotFound):
        await theirs.compare(mine.id, 1, 2)
    assert [c.test_coverage for c in await ProjectContexts(store).list(mine.id)] == [10.0, 20.0]


@pytest.fixture
async def committed_project(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> tuple[DatabaseUrl, uuid.UUID, uuid.UUID]:
    """A fresh database at head with one project, committed (for multi-connection tests)."""
    url = fresh_head_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=test_settings, upgrade=False) as store:
        project = await Projects(store).create(name="contended")
        return fresh_head_url, store.customer_id, project.id


def test_concurrent_iterations_are_numbered_without_gaps(
    committed_project: tuple[DatabaseUrl, uuid.UUID, uuid.UUID], test_settings: Settings
) -> None:
    url, customer_id, project_id = committed_project

    async def add(store: Store, index: int) -> list[int]:
        contexts = ProjectContexts(store)
        return [
            (await contexts.add_iteration(project_id, notes=f"w{index}")).iteration
            for _ in range(3)
        ]

    per_worker = run_in_threads(url, test_settings, customer_id, 16, add)
    assert sorted(n for batch in per_worker for n in batch) == list(range(1, 49))
