"""Facades for human review and reporting: recommendations, optimizations,
pull requests, search and the reporting views.

Each method is a service function bound with :func:`~flightlog.store.binding.writes`
or :func:`~flightlog.store.binding.reads`: one transaction for the Store's
customer, with the service's own parameters, types and docstring.
"""

from __future__ import annotations

from flightlog.services import (
    insights,
    optimizations,
    pull_request_history,
    pull_requests,
    recommendations,
    search,
    views,
)
from flightlog.services import overview as overview_service
from flightlog.store.binding import Facade, S, reads, writes


class Recommendations(Facade[S]):
    """``store.recommendations``: create, decide (approve/reject), get, list, approval queue."""

    create = writes(recommendations.create_recommendation)
    get = reads(recommendations.get_recommendation)
    decide = writes(recommendations.decide)
    approve = writes(recommendations.approve_recommendation)
    reject = writes(recommendations.reject_recommendation)
    list = reads(recommendations.list_recommendations, stale_ok=True)
    pending_approvals = reads(recommendations.pending_approvals, stale_ok=True)
    approvals = reads(recommendations.approvals_for, stale_ok=True)


class Optimizations(Facade[S]):
    """``store.optimizations``: start from an approved recommendation, begin, progress,
    complete, fail, roll back, get, list."""

    start = writes(optimizations.start_optimization)
    begin = writes(optimizations.begin)
    report_progress = writes(optimizations.report_progress)
    complete = writes(optimizations.complete)
    fail = writes(optimizations.fail)
    rollback = writes(optimizations.rollback)
    get = reads(optimizations.get_optimization)
    list = reads(optimizations.list_optimizations, stale_ok=True)


class PullRequests(Facade[S]):
    """``store.pull_requests``: create, review transitions, merge, close, checks, list, and
    the review history."""

    create = writes(pull_requests.create_pull_request)
    get = reads(pull_requests.get_pull_request)
    transition = writes(pull_requests.transition_pull_request)
    open = writes(pull_requests.open_pull_request)
    request_changes = writes(pull_requests.request_changes)
    approve = writes(pull_requests.approve_pull_request)
    merge = writes(pull_requests.merge_pull_request)
    close = writes(pull_requests.close_pull_request)
    record_check = writes(pull_requests.record_check)
    checks = reads(pull_requests.list_checks, stale_ok=True)
    list = reads(pull_requests.list_pull_requests, stale_ok=True)
    page = reads(pull_requests.pull_request_page, stale_ok=True)
    history = reads(pull_request_history.review_history, stale_ok=True)


class Search(Facade[S]):
    """``store.search``: full-text search over the customer's tasks."""

    tasks = reads(search.search_tasks, stale_ok=True)
    page = reads(search.search_page, stale_ok=True)


class Views(Facade[S]):
    """``store.views``: the front page, what waits for a person, the reporting views
    (active tasks, execution summary, PR validation) and the charts' aggregates over time."""

    overview = reads(overview_service.customer_overview, stale_ok=True)
    plans_waiting = reads(overview_service.plans_waiting, stale_ok=True)
    waiting_counts = reads(overview_service.waiting_counts, stale_ok=True)
    modifications_waiting = reads(overview_service.modifications_waiting, stale_ok=True)
    active_tasks = reads(views.active_tasks, stale_ok=True)
    task_execution_summary = reads(views.task_execution_summary, stale_ok=True)
    task_execution_summaries = reads(views.task_execution_summaries, stale_ok=True)
    pr_validation_status = reads(views.pr_validation_status, stale_ok=True)
    pr_validation_statuses = reads(views.pr_validation_statuses, stale_ok=True)
    usage = reads(insights.usage, stale_ok=True)
    run_outcomes = reads(insights.run_outcomes, stale_ok=True)
    run_durations = reads(insights.run_durations, stale_ok=True)
