"""Facades for projects, their iterations, templates and modifications (seeds 003, 004).

Each method is one committed transaction for the Store's customer and
passes its arguments to the service function of the same verb, whose
docstring describes them.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from typing import Any

from flightlog.models import Modification, Project, ProjectContext, Template
from flightlog.services import blobs, modifications, project_contexts, projects, templates
from flightlog.store.facades import _Facade


class Projects(_Facade):
    """``store.projects``: create, get, get by name, update, list, delete."""

    async def create(self, *, name: str, **fields: Any) -> Project:
        async with self._store.transaction() as s:
            return await projects.create_project(s, customer_id=self._customer, name=name, **fields)

    async def get(self, project_id: uuid.UUID) -> Project:
        async with self._store.reader() as s:
            return await projects.get_project(s, project_id, customer_id=self._customer)

    async def get_by_name(self, name: str) -> Project:
        async with self._store.reader() as s:
            return await projects.get_project_by_name(s, name, customer_id=self._customer)

    async def update(self, project_id: uuid.UUID, **changes: Any) -> Project:
        async with self._store.transaction() as s:
            return await projects.update_project(
                s, project_id, customer_id=self._customer, **changes
            )

    async def list(self, **filters: Any) -> projects.ProjectPage:
        async with self._store.reader() as s:
            return await projects.list_projects(s, customer_id=self._customer, **filters)

    async def delete(self, project_id: uuid.UUID) -> projects.ProjectDeletionResult:
        """Delete the project and what it owns; unreferenced blob files go after commit."""
        async with self._store.transaction() as s:
            result = await projects.delete_project(s, project_id, customer_id=self._customer)
        blobs.remove_files(self._store.blob_policy.blob_dir, result.files_to_remove)
        return result


class ProjectContexts(_Facade):
    """``store.project_contexts``: add an iteration, read one or the latest, list, compare."""

    async def add_iteration(self, project_id: uuid.UUID, **fields: Any) -> ProjectContext:
        async with self._store.transaction() as s:
            return await project_contexts.add_iteration(
                s, project_id, customer_id=self._customer, **fields
            )

    async def latest(self, project_id: uuid.UUID) -> ProjectContext | None:
        async with self._store.reader() as s:
            return await project_contexts.latest(s, project_id, customer_id=self._customer)

    async def get(self, project_id: uuid.UUID, iteration: int) -> ProjectContext:
        async with self._store.reader() as s:
            return await project_contexts.get_iteration(
                s, project_id, iteration, customer_id=self._customer
            )

    async def list(self, project_id: uuid.UUID) -> builtins.list[ProjectContext]:
        async with self._store.reader() as s:
            return await project_contexts.list_iterations(s, project_id, customer_id=self._customer)

    async def compare(
        self, project_id: uuid.UUID, from_iteration: int, to_iteration: int
    ) -> project_contexts.ContextComparison:
        async with self._store.reader() as s:
            return await project_contexts.compare(
                s, project_id, from_iteration, to_iteration, customer_id=self._customer
            )


class Templates(_Facade):
    """``store.templates``: create, get, update, list, delete, render, create a project."""

    async def create(self, *, name: str, **fields: Any) -> Template:
        async with self._store.transaction() as s:
            return await templates.create_template(
                s, customer_id=self._customer, name=name, **fields
            )

    async def get(self, template_id: uuid.UUID) -> Template:
        async with self._store.reader() as s:
            return await templates.get_template(s, template_id, customer_id=self._customer)

    async def get_by_name(self, name: str) -> Template:
        async with self._store.reader() as s:
            return await templates.get_template_by_name(s, name, customer_id=self._customer)

    async def update(self, template_id: uuid.UUID, **changes: Any) -> Template:
        async with self._store.transaction() as s:
            return await templates.update_template(
                s, template_id, customer_id=self._customer, **changes
            )

    async def list(self, **filters: Any) -> templates.TemplatePage:
        async with self._store.reader() as s:
            return await templates.list_templates(s, customer_id=self._customer, **filters)

    async def delete(self, template_id: uuid.UUID) -> None:
        async with self._store.transaction() as s:
            await templates.delete_template(s, template_id, customer_id=self._customer)

    async def render(self, template_id: uuid.UUID, variables: Mapping[str, Any]) -> dict[str, str]:
        async with self._store.reader() as s:
            return await templates.render(s, template_id, variables, customer_id=self._customer)

    async def create_project(
        self,
        template_id: uuid.UUID,
        *,
        name: str,
        variables: Mapping[str, Any],
        **fields: Any,
    ) -> templates.ProjectFromTemplate:
        async with self._store.transaction() as s:
            return await templates.create_project_from_template(
                s,
                template_id,
                customer_id=self._customer,
                name=name,
                variables=variables,
                **fields,
            )


class Modifications(_Facade):
    """``store.modifications``: request, get, list, approve, reject, apply, fail."""

    async def request(self, project_id: uuid.UUID, *, request: str, **fields: Any) -> Modification:
        async with self._store.transaction() as s:
            return await modifications.request_modification(
                s, project_id, customer_id=self._customer, request=request, **fields
            )

    async def get(self, modification_id: uuid.UUID) -> Modification:
        async with self._store.reader() as s:
            return await modifications.get_modification(
                s, modification_id, customer_id=self._customer
            )

    async def list(self, project_id: uuid.UUID, **filters: Any) -> modifications.ModificationPage:
        async with self._store.reader() as s:
            return await modifications.list_modifications(
                s, project_id, customer_id=self._customer, **filters
            )

    async def decide(
        self,
        modification_id: uuid.UUID,
        *,
        approve: bool,
        decided_by: str,
        comment: str | None = None,
    ) -> Modification:
        """Record a person's approval or rejection (who, when, why) in one transaction."""
        async with self._store.transaction() as s:
            return await modifications.decide(
                s,
                modification_id,
                customer_id=self._customer,
                approve=approve,
                decided_by=decided_by,
                comment=comment,
            )

    async def approve(
        self, modification_id: uuid.UUID, *, decided_by: str, comment: str | None = None
    ) -> Modification:
        return await self.decide(
            modification_id, approve=True, decided_by=decided_by, comment=comment
        )

    async def reject(
        self, modification_id: uuid.UUID, *, decided_by: str, comment: str | None = None
    ) -> Modification:
        return await self.decide(
            modification_id, approve=False, decided_by=decided_by, comment=comment
        )

    async def apply(self, modification_id: uuid.UUID, **kw: Any) -> Modification:
        async with self._store.transaction() as s:
            return await modifications.apply(s, modification_id, customer_id=self._customer, **kw)

    async def fail(
        self, modification_id: uuid.UUID, *, error_message: str, **kw: Any
    ) -> Modification:
        async with self._store.transaction() as s:
            return await modifications.fail(
                s, modification_id, customer_id=self._customer, error_message=error_message, **kw
            )
