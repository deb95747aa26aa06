"""Templates (seed 003): files with ``{{variable}}`` placeholders, rendered into projects.

Rendering rules, checked in this order and reported all at once:

* every placeholder in a template's file paths and contents must be declared
  as a required or optional variable; an undeclared one is a mistake in the
  template, refused when it is created or updated, not when it is rendered;
* a render must give a non-blank string for every required variable, and
  nothing that is not declared (a misspelt name would otherwise be lost);
* an optional variable that is not given renders as the empty string.

Substitution is one pass of a regular expression over each string: no
``eval``, no ``str.format``, and a value that itself contains ``{{x}}`` is
inserted literally, never expanded again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flightlog.errors import ValidationError
from flightlog.models import Project, ProjectContext, Template
from flightlog.services import project_contexts, projects
from flightlog.services._common import (
    UNSET,
    Unset,
    get_or_raise,
    given,
    require,
    translate_integrity_error,
)
from flightlog.services._dialect import json_array_contains
from flightlog.services._naming import assert_name_free, get_by_name

MAX_PAGE_SIZE = 500

#: ``{{name}}`` or ``{{ name }}``; names are identifiers.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The fields a template is made of (a new one takes :func:`_state`'s defaults).
TEMPLATE_FIELDS = frozenset(
    {
        "name",
        "description",
        "files",
        "required_variables",
        "optional_variables",
        "tech_stack",
        "tags",
        "complexity",
        "setup_time_minutes",
    }
)


@dataclass(frozen=True)
class TemplatePage:
    """A page of templates, newest first, with the cursor for the next page."""

    items: list[Template]
    next_cursor: uuid.UUID | None


@dataclass(frozen=True)
class ProjectFromTemplate:
    """The project made from a template, and its first iteration holding the rendered files."""

    project: Project
    context: ProjectContext


def _string_list(value: Any, name: str) -> list[str]:
    require(
        isinstance(value, list | tuple)
        and all(isinstance(item, str) and item.strip() for item in value),
        f"{name} must be a list of non-empty strings",
    )
    duplicates = sorted({item for item in value if list(value).count(item) > 1})
    require(not duplicates, f"{name} lists {', '.join(duplicates)} more than once")
    return list(value)


def placeholders(files: Mapping[str, str]) -> set[str]:
    """Every variable name the files' paths and contents refer to."""
    found: set[str] = set()
    for path, content in files.items():
        found.update(PLACEHOLDER.findall(path))
        found.update(PLACEHOLDER.findall(content))
    return found


def _validate_definition(state: dict[str, Any]) -> None:
    """Check a template as it would be stored: field types, then placeholders against variables."""
    name = state["name"]
    require(
        isinstance(name, str) and bool(name.strip()) and len(name) <= 255,
        "name must be 1 to 255 characters",
    )
    require(
        state["description"] is None or isinstance(state["description"], str),
        "description must be a string or None",
    )
    files = state["files"]
    require(
        isinstance(files, dict)
        and all(isinstance(p, str) and p.strip() for p in files)
        and all(isinstance(c, str) for c in files.values()),
        "files must be a JSON object mapping non-empty paths to string contents",
    )
    required = _string_list(state["required_variables"], "required_variables")
    optional = _string_list(state["optional_variables"], "optional_variables")
    bad_names = sorted(v for v in required + optional if not _VARIABLE_NAME.fullmatch(v))
    require(
        not bad_names,
        f"variable names must be identifiers (letters, digits, _): {', '.join(bad_names)}",
    )
    both = sorted(set(required) & set(optional))
    require(not both, f"variables cannot be both required and optional: {', '.join(both)}")
    _string_list(state["tech_stack"], "tech_stack")
    _string_list(state["tags"], "tags")
    complexity = state["complexity"]
    require(
        complexity is None or (isinstance(complexity, str) and len(complexity) <= 32),
        "complexity must be a string of at most 32 characters",
    )
    minutes = state["setup_time_minutes"]
    require(
        minutes is None or (isinstance(minutes, int) and not isinstance(minutes, bool)),
        "setup_time_minutes must be a whole number of minutes",
    )
    require(minutes is None or minutes >= 0, "setup_time_minutes cannot be negative")
    undeclared = sorted(placeholders(files) - set(required) - set(optional))
    if undeclared:
        raise ValidationError(
            "the template's files use undeclared variables: "
            f"{', '.join(undeclared)}; declare them as required or optional",
            undeclared=undeclared,
        )


def _state(template: Template | None, fields: dict[str, Any]) -> dict[str, Any]:
    """The template's fields after ``fields`` are applied (defaults for a new one)."""
    base: dict[str, Any] = {
        "name": None,
        "description": None,
        "files": {},
        "required_variables": [],
        "optional_variables": [],
        "tech_stack": [],
        "tags": [],
        "complexity": None,
        "setup_time_minutes": None,
    }
    if template is not None:
        base = {name: getattr(template, name) for name in TEMPLATE_FIELDS}
    state = {**base, **fields}
    for name in ("required_variables", "optional_variables", "tech_stack", "tags"):
        if isinstance(state[name], tuple):
            state[name] = list(state[name])
    return state


def _save(session: Session, template: Template, state: dict[str, Any], *, new: bool) -> None:
    """Write in a savepoint, so a name a concurrent writer took is a clean Conflict."""
    try:
        with session.begin_nested():
            for name, value in state.items():
                setattr(template, name, value)
            if new:
                session.add(template)
    except IntegrityError as exc:
        raise translate_integrity_error(exc, what=f"template {state['name']!r}") from None


def create_template(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    name: str,
    description: str | None = None,
    files: dict[str, str] | Unset = UNSET,
    required_variables: list[str] | Unset = UNSET,
    optional_variables: list[str] | Unset = UNSET,
    tech_stack: list[str] | Unset = UNSET,
    tags: list[str] | Unset = UNSET,
    complexity: str | None = None,
    setup_time_minutes: int | None = None,
) -> Template:
    """Create a template; its placeholders must all be declared variables.

    ``files`` maps paths to contents, both of which may use ``{{variables}}``;
    left out, files, variable lists, tech stack and tags are empty.
    """
    fields = given(
        name=name,
        description=description,
        files=files,
        required_variables=required_variables,
        optional_variables=optional_variables,
        tech_stack=tech_stack,
        tags=tags,
        complexity=complexity,
        setup_time_minutes=setup_time_minutes,
    )
    state = _state(None, fields)
    _validate_definition(state)
    assert_name_free(session, Template, customer_id, name)
    template = Template(customer_id=customer_id)
    _save(session, template, state, new=True)
    return template


def get_template(session: Session, customer_id: uuid.UUID, /, template_id: uuid.UUID) -> Template:
    """The template, or :class:`NotFound` (also for another customer's template)."""
    return get_or_raise(session, Template, template_id, customer_id=customer_id)


def get_template_by_name(session: Session, customer_id: uuid.UUID, /, name: str) -> Template:
    """Look a template up by its name."""
    return get_by_name(session, Template, name, customer_id=customer_id)


def update_template(
    session: Session,
    customer_id: uuid.UUID,
    /,
    template_id: uuid.UUID,
    *,
    name: str | Unset = UNSET,
    description: str | Unset | None = UNSET,
    files: dict[str, str] | Unset = UNSET,
    required_variables: list[str] | Unset = UNSET,
    optional_variables: list[str] | Unset = UNSET,
    tech_stack: list[str] | Unset = UNSET,
    tags: list[str] | Unset = UNSET,
    complexity: str | Unset | None = UNSET,
    setup_time_minutes: int | Unset | None = UNSET,
) -> Template:
    """Change the fields given; the others keep their values (``None`` clears a nullable one).

    The result is validated as a whole, so files and variables agree.
    """
    changes = given(
        name=name,
        description=description,
        files=files,
        required_variables=required_variables,
        optional_variables=optional_variables,
        tech_stack=tech_stack,
        tags=tags,
        complexity=complexity,
        setup_time_minutes=setup_time_minutes,
    )
    template = get_template(session, customer_id, template_id)
    state = _state(template, changes)
    _validate_definition(state)
    if state["name"] != template.name:
        assert_name_free(session, Template, customer_id, state["name"], except_id=template_id)
    _save(session, template, {k: state[k] for k in changes}, new=False)
    return template


def delete_template(session: Session, customer_id: uuid.UUID, /, template_id: uuid.UUID) -> None:
    """Delete a template; projects made from it keep their rendered files."""
    template = get_template(session, customer_id, template_id)
    session.delete(template)
    session.flush()


def list_templates(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    tag: str | None = None,
    tech_stack: str | None = None,
    cursor: uuid.UUID | None = None,
    limit: int = 50,
) -> TemplatePage:
    """Templates newest first, optionally only those with a tag and/or a technology."""
    require(1 <= limit <= MAX_PAGE_SIZE, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    stmt = select(Template).where(Template.customer_id == customer_id)
    if tag is not None:
        stmt = stmt.where(json_array_contains(session, Template.tags, tag))
    if tech_stack is not None:
        stmt = stmt.where(json_array_contains(session, Template.tech_stack, tech_stack))
    if cursor is not None:
        stmt = stmt.where(Template.id < cursor)
    rows = list((session.scalars(stmt.order_by(Template.id.desc()).limit(limit + 1))).all())
    items = rows[:limit]
    return TemplatePage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def _check_variables(template: Template, variables: Mapping[str, Any]) -> dict[str, str]:
    """The value of every declared variable, or one ValidationError naming every problem."""
    require(isinstance(variables, Mapping), "variables must be a mapping of name to string")
    declared = set(template.required_variables) | set(template.optional_variables)
    problems: list[str] = []
    details: dict[str, list[str]] = {}
    missing = sorted(
        name
        for name in template.required_variables
        if name not in variables
        or (isinstance(variables[name], str) and not variables[name].strip())
    )
    if missing:
        problems.append(f"missing required variables: {', '.join(missing)}")
        details["missing"] = missing
    unknown = sorted(set(variables) - declared, key=str)
    if unknown:
        problems.append(f"unknown variables: {', '.join(map(str, unknown))}")
        details["unknown"] = [str(u) for u in unknown]
    not_strings = sorted(
        name for name in set(variables) & declared if not isinstance(variables[name], str)
    )
    if not_strings:
        problems.append(f"variables must be strings: {', '.join(not_strings)}")
        details["not_strings"] = not_strings
    if problems:
        raise ValidationError(
            f"cannot render template {template.name!r}: {'; '.join(problems)}", **details
        )
    return {name: str(variables.get(name, "")) for name in declared}


#: Largest rendering (all paths and contents, in characters) a template may produce.
MAX_RENDERED_CHARS = 16 * 1024 * 1024


def _substitute(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def _rendered_size(template: Template, values: Mapping[str, str]) -> int:
    """Characters the rendering would produce, counted without producing them."""
    total = 0
    for text in (*template.files, *template.files.values()):
        total += len(text)
        for match in PLACEHOLDER.finditer(text):
            total += len(values[match.group(1)]) - len(match.group(0))
    return total


def render_files(template: Template, variables: Mapping[str, Any]) -> dict[str, str]:
    """Render every path and content of the template (pure: reads nothing, writes nothing).

    The size is checked first: a short value repeated in many placeholders
    could otherwise ask for gigabytes.
    """
    values = _check_variables(template, variables)
    size = _rendered_size(template, values)
    require(
        size <= MAX_RENDERED_CHARS,
        f"the rendered files would be {size:,} characters; the limit is {MAX_RENDERED_CHARS:,}",
        size=size,
    )
    rendered: dict[str, str] = {}
    for path, content in template.files.items():
        target = _substitute(path, values)
        if not target.strip():
            raise ValidationError(f"file path {path!r} renders to an empty path", path=path)
        if target in rendered:
            raise ValidationError(
                f"two files render to the same path {target!r}; give distinct variable values",
                path=target,
            )
        rendered[target] = _substitute(content, values)
    return rendered


def render(
    session: Session,
    customer_id: uuid.UUID,
    /,
    template_id: uuid.UUID,
    variables: Mapping[str, Any],
) -> dict[str, str]:
    """The template's files with the variables filled in, as ``{path: content}``."""
    template = get_template(session, customer_id, template_id)
    return render_files(template, variables)


def create_project_from_template(
    session: Session,
    customer_id: uuid.UUID,
    /,
    template_id: uuid.UUID,
    *,
    name: str,
    variables: Mapping[str, Any],
    configuration: dict[str, Any] | None = None,
    owner_id: str | None = None,
    description: str | None = None,
    repository_url: str | None = None,
    repository_name: str | None = None,
    default_branch: str = "main",
    settings: dict[str, Any] | None = None,
    owner: str | None = None,
) -> ProjectFromTemplate:
    """A new project whose iteration 1 holds the rendered files, in the caller's transaction.

    The project takes the fields of :func:`projects.create_project`;
    ``configuration`` and ``owner_id`` go to its first iteration. Rendering
    happens before anything is written, so a bad variable creates nothing;
    a name conflict or a bad project field raises before the context is
    added, and the caller's rollback undoes the rest.
    """
    template = get_template(session, customer_id, template_id)
    files = render_files(template, variables)
    project = projects.create_project(
        session,
        customer_id,
        name=name,
        description=description,
        repository_url=repository_url,
        repository_name=repository_name,
        default_branch=default_branch,
        settings=settings,
        owner=owner,
    )
    context = project_contexts.add_iteration(
        session,
        customer_id,
        project.id,
        codebase={"files": files, "template": template.name},
        configuration=configuration,
        owner_id=owner_id,
        notes=f"created from template {template.name!r}",
    )
    return ProjectFromTemplate(project=project, context=context)


__all__ = [
    "PLACEHOLDER",
    "ProjectFromTemplate",
    "TemplatePage",
    "create_project_from_template",
    "create_template",
    "delete_template",
    "get_template",
    "get_template_by_name",
    "list_templates",
    "placeholders",
    "render",
    "render_files",
    "update_template",
]
