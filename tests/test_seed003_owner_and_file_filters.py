"""Seed 003's queries by owner and by affected file, through the Store, the client and HTTP.

The seed's application code runs ``SELECT * FROM project_contexts WHERE owner_id = $1``
and its tests query the ``affected_files`` array. In Flightlog: ``store.projects.list(owner=)``,
``store.project_contexts.page(owner_id=)`` across projects (and ``list(project_id,
owner_id=)`` within one), ``store.modifications.list(project_id, affected_file=)``:
exact matches, the same answers on both dialects, another tenant's rows never shown.
"""

from __future__ import annotations

import pytest

from api_client import client_of, error_code
from flightlog import NotFound, ValidationError
from flightlog.store import Store
from test_client import client_for


async def test_seed003_projects_filter_by_owner(store: Store, other: Store) -> None:
    await store.projects.create(name="web", owner="ada")
    await store.projects.create(name="api", owner="ada")
    await store.projects.create(name="cli", owner="Ada")
    await store.projects.create(name="ops")
    await other.projects.create(name="theirs", owner="ada")
    page = await store.projects.list(owner="ada", total=True)
    assert ({p.name for p in page.items}, page.total) == ({"web", "api"}, 2)
    assert (await store.projects.list(owner="nobody")).items == []
    async with client_for(store) as fl:
        assert {p.name for p in (await fl.projects.list(owner="Ada")).items} == {"cli"}
    async with client_of(store) as api:
        answered = (await api.get("/projects", params={"owner": "ada", "limit": 1})).json()
        assert len(answered["items"]) == 1
        assert answered["next_cursor"] is not None


async def test_seed003_project_contexts_filter_by_owner_across_projects(
    store: Store, other: Store
) -> None:
    web = await store.projects.create(name="web")
    api = await store.projects.create(name="api")
    first = await store.project_contexts.add_iteration(web.id, owner_id="user-1")
    await store.project_contexts.add_iteration(web.id, owner_id="user-2")
    third = await store.project_contexts.add_iteration(api.id, owner_id="user-1")
    theirs = await other.projects.create(name="theirs")
    await other.project_contexts.add_iteration(theirs.id, owner_id="user-1")

    page = await store.project_contexts.page(owner_id="user-1", total=True)
    assert ([c.id for c in page.items], page.total) == ([third.id, first.id], 2)
    one = await store.project_contexts.page(owner_id="user-1", project_id=web.id)
    assert [c.id for c in one.items] == [first.id]
    assert len((await store.project_contexts.page()).items) == 3
    paged = await store.project_contexts.page(owner_id="user-1", limit=1)
    rest = await store.project_contexts.page(owner_id="user-1", cursor=paged.next_cursor)
    assert [c.id for c in paged.items + rest.items] == [third.id, first.id]
    within = await store.project_contexts.list(web.id, owner_id="user-2")
    assert [c.iteration for c in within] == [2]
    with pytest.raises(NotFound):
        await store.project_contexts.page(project_id=theirs.id)

    async with client_for(store) as fl:
        over_http = await fl.project_contexts.page(owner_id="user-1")
        assert [c.id for c in over_http.items] == [third.id, first.id]
        assert [c.iteration for c in await fl.project_contexts.list(web.id, owner_id="user-1")] == [
            1
        ]
    async with client_of(store) as http:
        answered = await http.get("/project-contexts", params={"owner_id": "user-2"})
        assert [c["iteration"] for c in answered.json()["items"]] == [2]
        too_long = await http.get("/project-contexts", params={"owner_id": "x" * 256})
        assert error_code(too_long, 422) == "validation_error"
        assert error_code(await http.get("/project-contexts", params={"limit": 0}), 422)


async def test_seed003_modifications_filter_by_affected_file(store: Store) -> None:
    project = await store.projects.create(name="web")
    auth = await store.modifications.request(
        project.id, request="add login", affected_files=["src/auth.py", "tests/test_auth.py"]
    )
    docs = await store.modifications.request(
        project.id, request="docs", affected_files=["README.md"]
    )
    await store.modifications.request(project.id, request="nothing yet")
    await store.modifications.reject(docs.id, decided_by="lead")

    def ids(page: object) -> list[object]:
        return [m.id for m in page.items]  # type: ignore[attr-defined]

    assert ids(await store.modifications.list(project.id, affected_file="src/auth.py")) == [auth.id]
    assert ids(await store.modifications.list(project.id, affected_file="src/auth")) == []
    assert ids(await store.modifications.list(project.id, affected_file="SRC/AUTH.PY")) == []
    readme = await store.modifications.list(
        project.id, affected_file="README.md", status=["REJECTED"]
    )
    assert ids(readme) == [docs.id]
    with pytest.raises(ValidationError, match="affected_file: must be a string"):
        await store.modifications.list(project.id, affected_file=["README.md"])  # type: ignore[arg-type]

    async with client_for(store) as fl:
        page = await fl.modifications.list(project.id, affected_file="tests/test_auth.py")
        assert ids(page) == [auth.id]
    async with client_of(store) as http:
        answered = await http.get(
            f"/projects/{project.id}/modifications", params={"affected_file": "README.md"}
        )
        assert [m["id"] for m in answered.json()["items"]] == [str(docs.id)]
