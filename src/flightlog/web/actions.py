"""What a person decides in the dashboard: plans, recommendations, changes, reviews, cancels.

Every action is a form POST that calls the same Store operation the HTTP API
route calls, so it is validated, refused and audited exactly as an API call is.
The actor recorded is the name of the key the person signed in with (what they
are known by to Flightlog); a read-only key is refused with the reason.

A POST is accepted only from this site: the browser's ``Sec-Fetch-Site``/``Origin``
must say so, and the form must carry the session's CSRF token (an HMAC keyed by
the session's key, see :func:`flightlog.web.session.csrf_token`). The answer is a
303 back to the page the form was on, which shows the outcome once (a flash cookie).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.enums import PullRequestStatus
from flightlog.errors import FlightlogError, NotFound
from flightlog.store.core import Store
from flightlog.web.flash import Flash, set_flash
from flightlog.web.session import (
    LoginRequired,
    Viewer,
    dashboard_store,
    render_error,
    root,
    safe_next,
    same_origin,
)

router = APIRouter(prefix="/actions", include_in_schema=False)
#: An action form is a token, a choice and a comment; a larger body is not one.
MAX_FORM_BYTES = 16_384
#: A comment is kept as the API keeps it; this bounds what a form may send.
MAX_COMMENT_CHARS = 4000


@dataclass(frozen=True)
class Form:
    """A submitted action form: its fields, the page to return to, who sent it."""

    fields: dict[str, str]
    back: str
    actor: str

    def text(self, name: str) -> str | None:
        value = self.fields.get(name, "").strip()
        return value[:MAX_COMMENT_CHARS] or None

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.fields.get(name, "")
        if value not in allowed:
            raise _Refused(f"choose one of: {', '.join(allowed)}")
        return value


class _Refused(Exception):
    """A form that cannot be acted on (not a domain refusal): shown like one."""


async def _read_form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _Refused("this form is larger than any action form")
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise _Refused("this form is larger than any action form")
    parsed = parse_qs(raw.decode(errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


async def _actor(store: Store, request: Request) -> str:
    viewer: Viewer = request.state.viewer
    key = await store.api_keys.get(viewer.key_id)
    return f"{key.name} (dashboard)"


Perform = Callable[[Store, Form], Awaitable[str]]


async def _act(
    request: Request,
    ctx: ApiContext,
    perform: Perform,
) -> Response:
    """Check where the form came from and who sent it, act, and go back with the outcome."""
    try:
        store = await dashboard_store(request, ctx)
    except LoginRequired:
        raise LoginRequired("/") from None  # signed out meanwhile: sign in, then start over
    viewer: Viewer = request.state.viewer
    try:
        fields = await _read_form(request)
    except _Refused as exc:
        response = RedirectResponse(f"{root(request)}/", status_code=303)
        set_flash(response, request, Flash.error(str(exc)))
        return response
    back = safe_next(fields.get("next") or "/")
    response = RedirectResponse(f"{root(request)}{back}", status_code=303)
    if not same_origin(request):
        set_flash(response, request, Flash.error("refused: this form was not sent from this site"))
        return response
    if not hmac.compare_digest(fields.get("csrf", ""), viewer.csrf):
        set_flash(
            response,
            request,
            Flash.error("refused: the form is stale or not from this page; reload and try again"),
        )
        return response
    if not viewer.can_write:
        set_flash(response, request, Flash.error(viewer.read_only_reason))
        return response
    try:
        form = Form(fields, back, await _actor(store, request))
        done = await perform(store, form)
    except _Refused as exc:
        set_flash(response, request, Flash.error(str(exc)))
    except NotFound as exc:
        # No page to go back to shows it: the not-found page, the same for a thing that
        # never existed and for another customer's.
        return render_error(request, 404, exc.message)
    except FlightlogError as exc:
        set_flash(response, request, Flash.error(exc.message))
    else:
        set_flash(response, request, Flash.done(done))
    return response


Ctx = Annotated[ApiContext, Depends(context)]
_DECISIONS = ("approve", "reject")


@router.post("/runs/{run_id}/plan")
async def decide_plan(request: Request, ctx: Ctx, run_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        approve = form.choice("decision", _DECISIONS) == "approve"
        run = await store.runs.decide_plan(
            run_id, approve=approve, decided_by=form.actor, comment=form.text("comment")
        )
        verdict = "approved: the run is running" if approve else "rejected: the run is cancelled"
        return f"Plan of run #{run.run_number} {verdict}."

    return await _act(request, ctx, perform)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(request: Request, ctx: Ctx, run_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        reason = form.text("comment")
        run = await store.runs.cancel(run_id, actor=form.actor, error_message=reason)
        return f"Run #{run.run_number} cancelled."

    return await _act(request, ctx, perform)


@router.post("/tasks/{task_id}/cancel")
async def cancel_task(request: Request, ctx: Ctx, task_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        task = await store.tasks.cancel(task_id, actor=form.actor, reason=form.text("comment"))
        return f"Task “{task.title}” cancelled, with its active runs."

    return await _act(request, ctx, perform)


@router.post("/tasks/{task_id}/retry")
async def retry_task(request: Request, ctx: Ctx, task_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        run = await store.runs.start(task_id, actor=form.actor)
        return f"Run #{run.run_number} started."

    return await _act(request, ctx, perform)


@router.post("/recommendations/{recommendation_id}/decision")
async def decide_recommendation(
    request: Request, ctx: Ctx, recommendation_id: uuid.UUID
) -> Response:
    async def perform(store: Store, form: Form) -> str:
        approve = form.choice("decision", _DECISIONS) == "approve"
        await store.recommendations.decide(
            recommendation_id, approve=approve, decided_by=form.actor, comment=form.text("comment")
        )
        return f"Recommendation {'approved' if approve else 'rejected'}."

    return await _act(request, ctx, perform)


@router.post("/modifications/{modification_id}/decision")
async def decide_modification(request: Request, ctx: Ctx, modification_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        approve = form.choice("decision", _DECISIONS) == "approve"
        await store.modifications.decide(
            modification_id, approve=approve, decided_by=form.actor, comment=form.text("comment")
        )
        return f"Modification request {'approved' if approve else 'rejected'}."

    return await _act(request, ctx, perform)


@router.post("/modifications/{modification_id}/applied")
async def apply_modification(request: Request, ctx: Ctx, modification_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        comment = form.text("comment")
        result = {"comment": comment} if comment else None
        await store.modifications.apply(modification_id, result=result, actor=form.actor)
        return "Modification marked applied."

    return await _act(request, ctx, perform)


#: What a reviewer may do to a pull request from the dashboard, and how the outcome reads.
REVIEW_MOVES = {
    PullRequestStatus.CHANGES_REQUESTED.value: "Changes requested",
    PullRequestStatus.APPROVED.value: "Approved",
    PullRequestStatus.MERGED.value: "Merged",
}


@router.post("/pull-requests/{pull_request_id}/status")
async def review_pull_request(request: Request, ctx: Ctx, pull_request_id: uuid.UUID) -> Response:
    async def perform(store: Store, form: Form) -> str:
        move = form.choice("status", tuple(REVIEW_MOVES))
        pr = await store.pull_requests.transition(
            pull_request_id, move, actor=form.actor, comment=form.text("comment")
        )
        return f"{REVIEW_MOVES[move]}: {pr.title}."

    return await _act(request, ctx, perform)
