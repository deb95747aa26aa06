"""Templates (seed 003): definition checks, filters, rendering and projects made from them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from flightlog import Conflict, NotFound, ValidationError
from flightlog.models import Project, ProjectContext, Template
from flightlog.store import Store
from flightlog.store.project_facades import ProjectContexts, Projects, Templates

FASTAPI_FILES = {
    "{{package}}/main.py": 'app = FastAPI(title="{{title}}")\n# {{ banner }}\n',
    "README.md": "# {{title}}\n{{description}}\n",
    "requirements.txt": "fastapi\n",
}


async def _count(store: Store, model: Any, *where: Any) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _fastapi(templates: Templates, name: str = "fastapi-service") -> Template:
    return await templates.create(
        name=name,
        description="A FastAPI service",
        files=FASTAPI_FILES,
        required_variables=["package", "title"],
        optional_variables=["description", "banner"],
        tech_stack=["python", "fastapi"],
        tags=["backend", "api"],
        complexity="simple",
        setup_time_minutes=15,
    )


async def test_seed_003_templates_store_variables_tech_stack_and_tags(store: Store) -> None:
    """Seed 003: files, required/optional variables, tech stack, tags, complexity, setup time."""
    templates = Templates(store)
    made = await _fastapi(templates)
    loaded = await templates.get(made.id)
    assert loaded.files == FASTAPI_FILES
    assert loaded.required_variables == ["package", "title"]
    assert loaded.optional_variables == ["description", "banner"]
    assert loaded.tech_stack == ["python", "fastapi"]
    assert loaded.tags == ["backend", "api"]
    assert (loaded.complexity, loaded.setup_time_minutes) == ("simple", 15)
    assert loaded.customer_id == store.customer_id
    assert (await templates.get_by_name("fastapi-service")).id == made.id
    with pytest.raises(NotFound):
        await templates.get_by_name("missing")


async def test_undeclared_placeholders_are_a_definition_error(store: Store) -> None:
    templates = Templates(store)
    with pytest.raises(ValidationError, match="undeclared variables: author, project") as info:
        await templates.create(
            name="broken",
            files={"{{project}}/x.py": "# by {{author}} for {{ name }}"},
            required_variables=["name"],
        )
    assert info.value.details["undeclared"] == ["author", "project"]
    assert await _count(store, Template, Template.customer_id == store.customer_id) == 0
    made = await _fastapi(templates)
    with pytest.raises(ValidationError, match="undeclared variables: banner"):
        await templates.update(made.id, optional_variables=["description"])
    with pytest.raises(ValidationError, match="undeclared variables: license"):
        await templates.update(made.id, files={**FASTAPI_FILES, "LICENSE": "{{license}}"})
    loaded = await templates.get(made.id)
    assert loaded.optional_variables == ["description", "banner"]
    assert loaded.files == FASTAPI_FILES


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "name"),
        ({"name": "t", "files": {"a.txt": 1}}, "files"),
        ({"name": "t", "files": ["a.txt"]}, "files"),
        ({"name": "t", "files": {"": "x"}}, "files"),
        ({"name": "t", "required_variables": ["a"], "optional_variables": ["a"]}, "both"),
        ({"name": "t", "required_variables": ["not-ok"]}, "identifiers"),
        ({"name": "t", "required_variables": ["a", "a"]}, "more than once"),
        ({"name": "t", "tags": "backend"}, "tags"),
        ({"name": "t", "tech_stack": ["python", ""]}, "tech_stack"),
        ({"name": "t", "setup_time_minutes": -5}, "negative"),
        ({"name": "t", "setup_time_minutes": 1.5}, "setup_time_minutes"),
        ({"name": "t", "complexity": "x" * 33}, "complexity"),
    ],
)
async def test_bad_template_definitions_write_nothing(
    store: Store, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await Templates(store).create(**fields)
    assert await _count(store, Template, Template.customer_id == store.customer_id) == 0


async def test_a_field_that_is_not_a_parameter_is_a_type_error(store: Store) -> None:
    templates = Templates(store)
    with pytest.raises(TypeError, match="unexpected keyword argument 'language'"):
        await templates.create(name="t", language="go")  # type: ignore[call-arg]
    made = await templates.create(name="t")
    with pytest.raises(TypeError, match="unexpected keyword argument 'created_at'"):
        await templates.update(made.id, created_at=None)  # type: ignore[call-arg]
    assert [t.name for t in (await templates.list()).items] == ["t"]


async def test_names_are_unique_per_customer(store: Store, other: Store) -> None:
    first = await _fastapi(Templates(store))
    with pytest.raises(Conflict, match="fastapi-service"):
        await _fastapi(Templates(store))
    second = await Templates(store).create(name="cli")
    with pytest.raises(Conflict):
        await Templates(store).update(second.id, name="fastapi-service")
    assert (await Templates(store).get(second.id)).name == "cli"
    theirs = await _fastapi(Templates(other))
    assert theirs.id != first.id


async def test_list_filters_by_tag_and_tech_stack(store: Store) -> None:
    templates = Templates(store)
    api = await _fastapi(templates)
    web = await templates.create(name="react-app", tech_stack=["typescript", "react"], tags=["ui"])
    fullstack = await templates.create(
        name="fullstack", tech_stack=["python", "react"], tags=["ui", "backend"]
    )

    async def names(**filters: Any) -> list[str]:
        return [t.name for t in (await templates.list(**filters)).items]

    assert await names() == ["fullstack", "react-app", "fastapi-service"]
    assert await names(tag="backend") == ["fullstack", "fastapi-service"]
    assert await names(tech_stack="react") == ["fullstack", "react-app"]
    assert await names(tag="ui", tech_stack="python") == ["fullstack"]
    assert await names(tag="nothing") == []
    page = await templates.list(limit=2)
    rest = await templates.list(limit=2, cursor=page.next_cursor)
    assert [t.id for t in page.items + rest.items] == [fullstack.id, web.id, api.id]
    assert rest.next_cursor is None


async def test_update_changes_a_template_consistently(store: Store) -> None:
    templates = Templates(store)
    made = await _fastapi(templates)
    updated = await templates.update(
        made.id,
        files={"main.py": "print('{{greeting}}')"},
        required_variables=["greeting"],
        optional_variables=[],
        tags=["demo"],
    )
    assert updated.files == {"main.py": "print('{{greeting}}')"}
    assert (await templates.get(made.id)).tags == ["demo"]
    assert await templates.render(made.id, {"greeting": "hi"}) == {"main.py": "print('hi')"}


async def test_render_fills_paths_and_contents(store: Store) -> None:
    """Seed 003: required and optional variables; optional ones not given render empty."""
    templates = Templates(store)
    made = await _fastapi(templates)
    files = await templates.render(
        made.id, {"package": "shop", "title": "Shop API", "banner": "generated"}
    )
    assert files == {
        "shop/main.py": 'app = FastAPI(title="Shop API")\n# generated\n',
        "README.md": "# Shop API\n\n",
        "requirements.txt": "fastapi\n",
    }


async def test_render_inserts_values_literally(store: Store) -> None:
    templates = Templates(store)
    made = await _fastapi(templates)
    files = await templates.render(
        made.id,
        {"package": "p", "title": "{{package}} {0} {title}", "description": "${HOME} %s"},
    )
    assert files["README.md"] == "# {{package}} {0} {title}\n${HOME} %s\n"


async def test_render_names_every_missing_and_unknown_variable(store: Store) -> None:
    templates = Templates(store)
    made = await _fastapi(templates)
    with pytest.raises(ValidationError, match="missing required variables: package, title"):
        await templates.render(made.id, {})
    with pytest.raises(ValidationError, match="missing required variables: title") as blank:
        await templates.render(made.id, {"package": "p", "title": "   "})
    assert blank.value.details["missing"] == ["title"]
    with pytest.raises(ValidationError, match="unknown variables: autor, titel") as unknown:
        await templates.render(made.id, {"package": "p", "title": "t", "titel": "x", "autor": "me"})
    assert "missing" not in unknown.value.details
    with pytest.raises(ValidationError) as both:
        await templates.render(made.id, {"package": "p", "titel": "x"})
    assert both.value.details == {"missing": ["title"], "unknown": ["titel"]}
    with pytest.raises(ValidationError, match="must be strings: package"):
        await templates.render(made.id, {"package": 3, "title": "t"})


async def test_paths_that_render_to_the_same_file_are_refused(store: Store) -> None:
    made = await Templates(store).create(
        name="two",
        files={"{{a}}.py": "1", "{{b}}.py": "2"},
        required_variables=["a", "b"],
    )
    with pytest.raises(ValidationError, match=r"same path 'x\.py'"):
        await Templates(store).render(made.id, {"a": "x", "b": "x"})
    assert await Templates(store).render(made.id, {"a": "x", "b": "y"}) == {
        "x.py": "1",
        "y.py": "2",
    }


async def test_create_project_from_template_stores_iteration_one(store: Store) -> None:
    templates = Templates(store)
    made = await _fastapi(templates)
    created = await templates.create_project(
        made.id,
        name="shop",
        variables={"package": "shop", "title": "Shop"},
        description="from a template",
        owner="alice",
        configuration={"env": "dev"},
    )
    project = await Projects(store).get_by_name("shop")
    assert project.id == created.project.id
    assert (project.description, project.owner) == ("from a template", "alice")
    context = await ProjectContexts(store).get(project.id, 1)
    assert context.id == created.context.id
    assert context.codebase == {
        "files": {
            "shop/main.py": 'app = FastAPI(title="Shop")\n# \n',
            "README.md": "# Shop\n\n",
            "requirements.txt": "fastapi\n",
        },
        "template": "fastapi-service",
    }
    assert context.configuration == {"env": "dev"}


async def test_create_project_from_template_is_atomic(store: Store) -> None:
    templates = Templates(store)
    made = await _fastapi(templates)
    await Projects(store).create(name="taken")
    projects_before = await _count(store, Project, Project.customer_id == store.customer_id)
    contexts_before = await _count(store, ProjectContext)
    with pytest.raises(ValidationError, match="missing required variables: title"):
        await templates.create_project(made.id, name="new", variables={"package": "p"})
    with pytest.raises(Conflict):
        await templates.create_project(
            made.id, name="taken", variables={"package": "p", "title": "t"}
        )
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        await templates.create_project(  # type: ignore[call-arg]
            made.id, name="new", variables={"package": "p", "title": "t"}, colour="red"
        )
    with pytest.raises(ValidationError, match="default_branch"):
        await templates.create_project(
            made.id, name="new", variables={"package": "p", "title": "t"}, default_branch=""
        )
    # Fails after the project row was written: the whole transaction goes.
    with pytest.raises(ValidationError, match="configuration"):
        await templates.create_project(
            made.id, name="new", variables={"package": "p", "title": "t"}, configuration=["x"]
        )
    assert await _count(store, Project, Project.customer_id == store.customer_id) == (
        projects_before
    )
    assert await _count(store, ProjectContext) == contexts_before
    with pytest.raises(NotFound):
        await Projects(store).get_by_name("new")


async def test_delete_template_keeps_projects_made_from_it(store: Store) -> None:
    templates = Templates(store)
    made = await _fastapi(templates)
    created = await templates.create_project(
        made.id, name="kept", variables={"package": "p", "title": "t"}
    )
    await templates.delete(made.id)
    with pytest.raises(NotFound):
        await templates.get(made.id)
    with pytest.raises(NotFound):
        await templates.delete(made.id)
    context = await ProjectContexts(store).latest(created.project.id)
    assert context is not None
    assert context.codebase["template"] == "fastapi-service"


async def test_customers_cannot_touch_each_others_templates(store: Store, other: Store) -> None:
    made = await _fastapi(Templates(store))
    theirs = Templates(other)
    variables = {"package": "p", "title": "t"}
    with pytest.raises(NotFound):
        await theirs.get(made.id)
    with pytest.raises(NotFound):
        await theirs.get_by_name("fastapi-service")
    with pytest.raises(NotFound):
        await theirs.update(made.id, description="hijacked")
    with pytest.raises(NotFound):
        await theirs.render(made.id, variables)
    with pytest.raises(NotFound):
        await theirs.create_project(made.id, name="stolen", variables=variables)
    with pytest.raises(NotFound):
        await theirs.delete(made.id)
    assert (await theirs.list()).items == []
    assert (await theirs.list(tag="backend")).items == []
    assert (await Projects(other).list()).items == []
    loaded = await Templates(store).get(made.id)
    assert loaded.description == "A FastAPI service"
