"""The client's facades for projects and human review: projects, their iterations and
modifications, templates, recommendations, optimizations, pull requests, search and views.

Each ``bind(...)`` is one route declared by the service it calls (see
:mod:`flightlog.client.binding`); the methods written out say why in ``why=``.
"""

from __future__ import annotations

from flightlog.client.binding import (
    NO_CONTENT,
    Facade,
    M,
    bind,
)
from flightlog.enums import PullRequestStatus
from flightlog.schemas.events import EventOut
from flightlog.schemas.modifications import ModificationOut, ModificationPageOut
from flightlog.schemas.projects import ContextOut, ContextPageOut, ProjectOut, ProjectPageOut
from flightlog.schemas.pull_requests import CheckOut, PullRequestOut, PullRequestPageOut
from flightlog.schemas.recommendations import ApprovalOut, OptimizationOut, RecommendationOut
from flightlog.schemas.tasks import SearchHit, SearchPageOut
from flightlog.schemas.templates import ProjectFromTemplateOut, TemplateOut, TemplatePageOut
from flightlog.services import (
    insights,
    modifications,
    optimizations,
    project_contexts,
    projects,
    pull_request_history,
    pull_requests,
    recommendations,
    search,
    templates,
    views,
)
from flightlog.services import overview as overview_service
from flightlog.services.insights import DurationBin, OutcomeBucket, UsageBucket
from flightlog.services.overview import Overview
from flightlog.services.project_contexts import ContextComparison
from flightlog.services.views import ActiveTask, PrValidationStatus, TaskExecutionSummary

_PROJECT = "/projects/{project_id}"
#: The body field a convenience fixes: ``approve`` is ``decide`` with ``approve=True``.
_YES, _NO = {"approve": True}, {"approve": False}


class Projects(Facade[M]):
    """``client.projects``: create, get, update, list, delete."""

    create = bind("POST", "/projects", projects.create_project, ProjectOut)
    get = bind("GET", _PROJECT, projects.get_project, ProjectOut)
    update = bind("PATCH", _PROJECT, projects.update_project, ProjectOut)
    delete = bind("DELETE", _PROJECT, projects.delete_project, NO_CONTENT)
    list = bind("GET", "/projects", projects.list_projects, ProjectPageOut)


class ProjectContexts(Facade[M]):
    """``client.project_contexts``: add an iteration, read one, list a project's, page
    through all projects' (by owner), compare two."""

    add_iteration = bind("POST", f"{_PROJECT}/contexts", project_contexts.add_iteration, ContextOut)
    get = bind(
        "GET", f"{_PROJECT}/contexts/{{iteration}}", project_contexts.get_iteration, ContextOut
    )
    compare = bind(
        "GET", f"{_PROJECT}/contexts/compare", project_contexts.compare, ContextComparison
    )
    list = bind("GET", f"{_PROJECT}/contexts", project_contexts.list_iterations, list[ContextOut])
    page = bind("GET", "/project-contexts", project_contexts.list_contexts, ContextPageOut)


_MODIFICATION = "/modifications/{modification_id}"
_MOD_DECISION = f"{_MODIFICATION}/decision"


class Modifications(Facade[M]):
    """``client.modifications``: request, get, list, decide (approve, reject), apply, fail."""

    request = bind(
        "POST", f"{_PROJECT}/modifications", modifications.request_modification, ModificationOut
    )
    get = bind("GET", _MODIFICATION, modifications.get_modification, ModificationOut)
    decide = bind("POST", _MOD_DECISION, modifications.decide, ModificationOut)
    approve = bind("POST", _MOD_DECISION, modifications.approve, ModificationOut, fixed=_YES)
    reject = bind("POST", _MOD_DECISION, modifications.reject, ModificationOut, fixed=_NO)
    apply = bind("POST", f"{_MODIFICATION}/applied", modifications.apply, ModificationOut)
    fail = bind("POST", f"{_MODIFICATION}/failed", modifications.fail, ModificationOut)
    list = bind(
        "GET", f"{_PROJECT}/modifications", modifications.list_modifications, ModificationPageOut
    )


_TEMPLATE = "/templates/{template_id}"


class Templates(Facade[M]):
    """``client.templates``: create, get, update, list, delete, render, create a project."""

    create = bind("POST", "/templates", templates.create_template, TemplateOut)
    get = bind("GET", _TEMPLATE, templates.get_template, TemplateOut)
    update = bind("PATCH", _TEMPLATE, templates.update_template, TemplateOut)
    delete = bind("DELETE", _TEMPLATE, templates.delete_template, NO_CONTENT)
    render = bind("POST", f"{_TEMPLATE}/render", templates.render, dict[str, str])
    create_project = bind(
        "POST",
        f"{_TEMPLATE}/projects",
        templates.create_project_from_template,
        ProjectFromTemplateOut,
    )
    list = bind("GET", "/templates", templates.list_templates, TemplatePageOut)


_RECOMMENDATION = "/recommendations/{recommendation_id}"
_DECISION = f"{_RECOMMENDATION}/decision"


class Recommendations(Facade[M]):
    """``client.recommendations``: create, decide (approve/reject), get, list, approvals."""

    create = bind(
        "POST", "/recommendations", recommendations.create_recommendation, RecommendationOut
    )
    get = bind("GET", _RECOMMENDATION, recommendations.get_recommendation, RecommendationOut)
    decide = bind("POST", _DECISION, recommendations.decide, ApprovalOut)
    approve = bind(
        "POST", _DECISION, recommendations.approve_recommendation, ApprovalOut, fixed=_YES
    )
    reject = bind("POST", _DECISION, recommendations.reject_recommendation, ApprovalOut, fixed=_NO)
    pending_approvals = bind(
        "GET", "/approvals/pending", recommendations.pending_approvals, list[ApprovalOut]
    )
    approvals = bind(
        "GET", f"{_RECOMMENDATION}/approvals", recommendations.approvals_for, list[ApprovalOut]
    )
    list = bind(
        "GET", "/recommendations", recommendations.list_recommendations, list[RecommendationOut]
    )


_OPTIMIZATION = "/optimizations/{optimization_id}"


class Optimizations(Facade[M]):
    """``client.optimizations``: start from an approved recommendation, begin, progress,
    complete, fail, roll back, get, list."""

    start = bind(
        "POST",
        f"{_RECOMMENDATION}/optimizations",
        optimizations.start_optimization,
        OptimizationOut,
    )
    report_progress = bind(
        "POST", f"{_OPTIMIZATION}/progress", optimizations.report_progress, OptimizationOut
    )
    complete = bind("POST", f"{_OPTIMIZATION}/complete", optimizations.complete, OptimizationOut)
    fail = bind("POST", f"{_OPTIMIZATION}/fail", optimizations.fail, OptimizationOut)
    rollback = bind("POST", f"{_OPTIMIZATION}/rollback", optimizations.rollback, OptimizationOut)
    get = bind("GET", _OPTIMIZATION, optimizations.get_optimization, OptimizationOut)

    begin = bind("POST", f"{_OPTIMIZATION}/begin", optimizations.begin, OptimizationOut)

    list = bind("GET", "/optimizations", optimizations.list_optimizations, list[OptimizationOut])


_PULL_REQUEST = "/pull-requests/{pull_request_id}"
_MOVE = f"{_PULL_REQUEST}/status"


def _move(status: PullRequestStatus) -> dict[str, object]:
    return {"status": status}


class PullRequests(Facade[M]):
    """``client.pull_requests``: create, review transitions, merge, close, checks, list, and
    the review history."""

    create = bind("POST", "/pull-requests", pull_requests.create_pull_request, PullRequestOut)
    get = bind("GET", _PULL_REQUEST, pull_requests.get_pull_request, PullRequestOut)
    transition = bind("POST", _MOVE, pull_requests.transition_pull_request, PullRequestOut)
    open = bind(
        "POST",
        _MOVE,
        pull_requests.open_pull_request,
        PullRequestOut,
        fixed=_move(PullRequestStatus.OPEN),
    )
    request_changes = bind(
        "POST",
        _MOVE,
        pull_requests.request_changes,
        PullRequestOut,
        fixed=_move(PullRequestStatus.CHANGES_REQUESTED),
    )
    approve = bind(
        "POST",
        _MOVE,
        pull_requests.approve_pull_request,
        PullRequestOut,
        fixed=_move(PullRequestStatus.APPROVED),
    )
    merge = bind(
        "POST",
        _MOVE,
        pull_requests.merge_pull_request,
        PullRequestOut,
        fixed=_move(PullRequestStatus.MERGED),
    )
    close = bind(
        "POST",
        _MOVE,
        pull_requests.close_pull_request,
        PullRequestOut,
        fixed=_move(PullRequestStatus.CLOSED),
    )
    record_check = bind("POST", f"{_PULL_REQUEST}/checks", pull_requests.record_check, CheckOut)
    checks = bind("GET", f"{_PULL_REQUEST}/checks", pull_requests.list_checks, list[CheckOut])
    history = bind(
        "GET", f"{_PULL_REQUEST}/history", pull_request_history.review_history, list[EventOut]
    )
    list = bind("GET", "/pull-requests", pull_requests.list_pull_requests, list[PullRequestOut])
    page = bind("GET", "/pull-requests/page", pull_requests.pull_request_page, PullRequestPageOut)


class Search(Facade[M]):
    """``client.search``: full-text search over the customer's tasks."""

    tasks = bind(
        "GET", "/search/tasks", search.search_tasks, list[SearchHit], rename={"query": "q"}
    )
    page = bind(
        "GET", "/search/tasks/page", search.search_page, SearchPageOut, rename={"query": "q"}
    )


class Views(Facade[M]):
    """``client.views``: the front page, active tasks, a task's execution summary, a pull
    request's validation status and the charts' aggregates over time."""

    task_execution_summary = bind(
        "GET",
        "/views/task-execution-summary/{task_id}",
        views.task_execution_summary,
        TaskExecutionSummary,
    )
    pr_validation_status = bind(
        "GET", f"{_PULL_REQUEST}/validation", views.pr_validation_status, PrValidationStatus
    )

    overview = bind("GET", "/views/overview", overview_service.customer_overview, Overview)
    active_tasks = bind("GET", "/views/active-tasks", views.active_tasks, list[ActiveTask])
    usage = bind("GET", "/views/usage", insights.usage, list[UsageBucket])
    run_outcomes = bind("GET", "/views/run-outcomes", insights.run_outcomes, list[OutcomeBucket])
    run_durations = bind("GET", "/views/run-durations", insights.run_durations, list[DurationBin])
