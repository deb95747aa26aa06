"""Every parameter a service takes is reachable over HTTP (issue 11, item 4).

These routes took less than their services: the task list's priority and
parent filters, the overview's ``top``, the active-task view's project and
limit, who began an optimization, and an artifact version's metadata. Each is
exercised through the typed client, whose methods are now the services'
signatures, on both dialects; bad values are 422 and change nothing.
"""

from __future__ import annotations

import inspect

import pytest

from api_client import client_of, error_code
from flightlog import ValidationError
from flightlog.api import create_app
from flightlog.client import reviews, work
from flightlog.client.binding import Route
from flightlog.enums import OptimizationStatus
from flightlog.store import Store
from test_client import client_for


async def test_the_task_list_filters_by_priority_and_parent(store: Store) -> None:
    async with client_for(store) as fl:
        parent = await fl.tasks.create(title="epic", priority=1)
        low = await fl.tasks.create(title="low", priority=1, parent_task_id=parent.id)
        high = await fl.tasks.create(title="high", priority=9, parent_task_id=parent.id)
        alone = await fl.tasks.create(title="alone", priority=5)

        def titles(page: object) -> set[str]:
            return {t.title for t in page.items}  # type: ignore[attr-defined]

        assert titles(await fl.tasks.list(priority=1)) == {"epic", "low"}
        assert titles(await fl.tasks.list(min_priority=5)) == {"high", "alone"}
        assert titles(await fl.tasks.list(parent_task_id=parent.id)) == {low.title, high.title}
        assert titles(await fl.tasks.list(top_level_only=True)) == {parent.title, alone.title}
        assert titles(await fl.tasks.list(parent_task_id=parent.id, min_priority=5)) == {"high"}


async def test_the_views_take_their_bounds_and_filters(store: Store) -> None:
    async with client_for(store) as fl:
        project = await fl.projects.create(name="views")
        for i in range(3):
            await fl.tasks.create(title=f"in project {i}", project_id=project.id)
        await fl.tasks.create(title="elsewhere")
        in_project = await fl.views.active_tasks(project_id=project.id)
        assert {t.title for t in in_project} == {f"in project {i}" for i in range(3)}
        assert len(await fl.views.active_tasks(limit=2)) == 2
        overview = await fl.views.overview(top=1)
        assert sum(overview.tasks_by_status.values()) == 4
        with pytest.raises(ValidationError):
            await fl.views.overview(top=0)
        with pytest.raises(ValidationError):
            await fl.views.active_tasks(limit=0)
    with pytest.raises(ValidationError, match="top must be between"):
        await store.views.overview(top=0)  # the service refuses it too, not just the route


async def test_who_began_an_optimization_is_recorded(store: Store) -> None:
    async with client_for(store) as fl:
        recommendation = await fl.recommendations.create(
            title="cache", recommendation_type="performance", confidence_score=0.8
        )
        await fl.recommendations.approve(recommendation.id, decided_by="lead")
        optimization = await fl.optimizations.start(recommendation.id)
        begun = await fl.optimizations.begin(optimization.id, actor="executor-7")
        assert begun.status is OptimizationStatus.EXECUTING
        page = await fl.events.list(limit=500)
        began = [
            e
            for e in page.items
            if e.entity_id == str(optimization.id) and (e.data or {}).get("to") == "EXECUTING"
        ]
        assert [e.actor for e in began] == ["executor-7"]


async def test_an_artifact_version_keeps_its_metadata(store: Store) -> None:
    task = await store.tasks.create(title="with metadata")
    async with client_for(store) as fl:
        stored = await fl.artifacts.put(
            task.id, "report.md", b"# Report\n", metadata={"model": "gpt", "tokens": 12}
        )
        assert stored.metadata == {"model": "gpt", "tokens": 12}
        assert (await fl.artifacts.get(stored.id)).metadata == {"model": "gpt", "tokens": 12}
    async with client_of(store) as api:
        for bad in ("[1, 2]", "not json", '"text"', "[" * 100 + "]" * 100):
            refused = await api.put(
                f"/tasks/{task.id}/artifacts/report.md",
                params={"metadata": bad},
                content=b"never stored",
            )
            assert error_code(refused, 422) == "validation_error", bad
        too_long = await api.put(
            f"/tasks/{task.id}/artifacts/report.md",
            params={"metadata": '{"k": "' + "x" * 9000 + '"}'},
            content=b"never stored",
        )
        assert error_code(too_long, 422) == "validation_error"
    assert [a.version for a in await store.artifacts.versions(task.id, "report.md")] == [1]


def test_the_openapi_document_says_metadata_is_a_json_object() -> None:
    document = create_app(dashboard=False).openapi()
    upload = document["paths"]["/api/v1/tasks/{task_id}/artifacts/{name}"]["put"]
    [metadata] = [p for p in upload["parameters"] if p["name"] == "metadata"]
    assert metadata["content"] == {"application/json": {"schema": {"type": "object"}}}


async def test_priorities_out_of_range_are_refused_by_the_route_and_the_service(
    store: Store,
) -> None:
    async with client_of(store) as api:
        refused = await api.get("/tasks", params={"min_priority": -(2**40)})
        assert error_code(refused, 422) == "validation_error"
    with pytest.raises(ValidationError, match="priority must be between"):
        await store.tasks.list(priority=2**40)


async def test_recommendations_filter_by_several_priorities(store: Store) -> None:
    async with client_for(store) as fl:
        project = await fl.projects.create(name="prio")
        for priority in ["HIGH", "LOW", "MEDIUM"]:
            await fl.recommendations.create(
                recommendation_type="cost",
                title=priority,
                confidence_score=0.5,
                priority=priority,
                project_id=project.id,
            )
        found = await fl.recommendations.list(project_id=project.id, priority=["HIGH", "LOW"])
        assert sorted(r.title for r in found) == ["HIGH", "LOW"]
        one = await fl.recommendations.list(project_id=project.id, priority="MEDIUM")
        assert [r.title for r in one] == ["MEDIUM"]
    async with client_of(store) as api:
        params = {"priority": ["HIGH", "LOW"], "project_id": str(project.id)}
        answered = await api.get("/recommendations", params=params)
        assert answered.status_code == 200, answered.text
        assert sorted(r["title"] for r in answered.json()) == ["HIGH", "LOW"]
        refused = await api.get("/recommendations", params={"priority": "URGENT"})
        assert error_code(refused, 422) == "validation_error"


def test_a_service_parameter_that_takes_a_list_is_a_list_in_its_route() -> None:
    """Each bound GET route's query parameter is an array where its service takes a sequence
    (a single-valued route parameter would keep only the last of a repeated filter)."""
    document = create_app(dashboard=False).openapi()
    checked = []
    for facade in [*vars(work).values(), *vars(reviews).values()]:
        for route in vars(facade).values() if isinstance(facade, type) else ():
            if not isinstance(route, Route) or route.method != "GET" or route.service is None:
                continue
            operation = document["paths"]["/api/v1" + route.path]["get"]
            # A JSON-object parameter (requirements_contains) is described by its content.
            schemas = {
                p["name"]: p.get("schema", p.get("content"))
                for p in operation.get("parameters", [])
            }
            for name, parameter in inspect.signature(route.build).parameters.items():
                annotation = str(parameter.annotation)
                if "Sequence" in annotation or "Iterable" in annotation:
                    schema = schemas[route.rename.get(name, name)]
                    assert "array" in str(schema), (route.path, name, schema)
                    checked.append((route.path, name))
    assert ("/recommendations", "priority") in checked
