"""Facades for projects, their iterations, templates and modifications (seeds 003, 004).

Each method is a service function bound for the Store's customer (see
``store/binding.py``): one committed transaction, with the service's own
parameters, return type and docstring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flightlog.services import blobs, modifications, project_contexts, projects, templates
from flightlog.store.binding import Facade, S, reads, writes

if TYPE_CHECKING:
    from flightlog.store.state import StoreState


def _remove_files(store: StoreState, result: projects.ProjectDeletionResult) -> None:
    """After the commit: the blob files no artifact refers to any more."""
    blobs.remove_files(store.blob_policy.blob_dir, result.files_to_remove)


class Projects(Facade[S]):
    """``store.projects``: create, get, get by name, update, list, delete."""

    create = writes(projects.create_project)
    get = reads(projects.get_project)
    get_by_name = reads(projects.get_project_by_name)
    update = writes(projects.update_project)
    list = reads(projects.list_projects, stale_ok=True)
    delete = writes(projects.delete_project, after_commit=_remove_files)


class ProjectContexts(Facade[S]):
    """``store.project_contexts``: add an iteration, read one or the latest, list a project's,
    page through all projects' (by owner), compare."""

    add_iteration = writes(project_contexts.add_iteration)
    latest = reads(project_contexts.latest)
    get = reads(project_contexts.get_iteration)
    list = reads(project_contexts.list_iterations, stale_ok=True)
    page = reads(project_contexts.list_contexts, stale_ok=True)
    compare = reads(project_contexts.compare, stale_ok=True)


class Templates(Facade[S]):
    """``store.templates``: create, get, update, list, delete, render, create a project."""

    create = writes(templates.create_template)
    get = reads(templates.get_template)
    get_by_name = reads(templates.get_template_by_name)
    update = writes(templates.update_template)
    list = reads(templates.list_templates, stale_ok=True)
    delete = writes(templates.delete_template)
    render = reads(templates.render)
    create_project = writes(templates.create_project_from_template)


class Modifications(Facade[S]):
    """``store.modifications``: request, get, list, decide (approve, reject), apply, fail."""

    request = writes(modifications.request_modification)
    get = reads(modifications.get_modification)
    list = reads(modifications.list_modifications, stale_ok=True)
    decide = writes(modifications.decide)
    approve = writes(modifications.approve)
    reject = writes(modifications.reject)
    apply = writes(modifications.apply)
    fail = writes(modifications.fail)
