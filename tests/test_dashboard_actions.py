"""Acting in the dashboard (issue 14, item 2): every decision a person makes, as a form.

Each action must do what the API route does (same service, same audit trail, the key's
name as the actor), be refused with its reason and change nothing when the service
refuses, when the key is read-only, when the form is not from this site or lacks the
session's token, and when the thing belongs to another customer.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select

from api_client import app_for, client_of, ok
from flightlog.enums import PullRequestStatus, RunStatus, TaskStatus
from flightlog.models import Event
from flightlog.store import Store

PLAN = {"steps": ["read the spec", "write the handlers", "run the tests"]}


def _browser(store: Store) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_for(store))
    return httpx.AsyncClient(transport=transport, base_url="http://flightlog.test")


@asynccontextmanager
async def _signed_in(
    store: Store, *scopes: str, name: str = "Ada"
) -> AsyncIterator[httpx.AsyncClient]:
    created = await store.api_keys.create(name, scopes=list(scopes) or ["read", "write"])
    async with _browser(store) as browser:
        signed = await browser.post("/login", data={"key": created.key, "next": "/"})
        assert signed.status_code == 303
        yield browser


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'<meta name="flightlog-csrf" content="([0-9a-f]+)">', page.text)
    assert found, "a signed-in page carries the form token"
    return found.group(1)


async def _post(
    browser: httpx.AsyncClient,
    action: str,
    fields: dict[str, str],
    *,
    back: str = "/waiting",
    headers: dict[str, str] | None = None,
    csrf: str | None = None,
) -> httpx.Response:
    token = csrf if csrf is not None else _csrf(await browser.get(back))
    answer = await browser.post(
        action, data={"csrf": token, "next": back, **fields}, headers=headers or {}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == back
    return answer


async def _outcome(browser: httpx.AsyncClient, back: str = "/waiting") -> tuple[str, str]:
    """The flash the page shows after an action: (kind, message)."""
    page = await browser.get(back)
    found = re.search(r'data-flash="(done|error)">([^<]*)</div>', page.text)
    assert found, "the page shows the outcome of the action"
    return found.group(1), html.unescape(found.group(2))


async def _audit(store: Store, entity_id: uuid.UUID) -> list[Event]:
    async with store.reader() as session:
        stmt = select(Event).where(Event.entity_id == str(entity_id)).order_by(Event.id)
        return list((await session.scalars(stmt)).all())


def _shape(events: list[Event]) -> list[tuple[Any, ...]]:
    """What an audit trail says, apart from who and when."""
    return [(e.event_type, e.entity_type, (e.data or {}).get("from"), (e.data or {}).get("to"))
            for e in events]  # fmt: skip


async def _waiting_run(store: Store, title: str = "Ship the API") -> tuple[Any, Any]:
    task = await store.tasks.create(title=title)
    run = await store.runs.start(task.id, plan=PLAN, await_plan_approval=True)
    assert run.status is RunStatus.WAITING_APPROVAL
    return task, run


async def test_approving_a_plan_starts_the_run_and_is_audited_as_over_the_api(
    store: Store,
) -> None:
    _, by_page = await _waiting_run(store)
    _, by_api = await _waiting_run(store, "Ship the CLI")
    async with _signed_in(store, name="Ada Lovelace") as browser:
        waiting = await browser.get("/waiting")
        assert f'action="/actions/runs/{by_page.id}/plan"' in waiting.text
        assert "read the spec" in waiting.text  # the plan itself, readable
        assert '<ol class="plan-ol">' in waiting.text
        await _post(
            browser,
            f"/actions/runs/{by_page.id}/plan",
            {"decision": "approve", "comment": "go ahead"},
        )
        kind, message = await _outcome(browser)
        assert kind == "done"
        assert f"Plan of run #{by_page.run_number} approved" in message
        again = await browser.get("/waiting")
        assert 'data-flash="' not in again.text, "an outcome is shown once"
    run = await store.runs.get(by_page.id)
    assert run.status is RunStatus.RUNNING
    assert run.plan_decided_by == "Ada Lovelace (dashboard)"
    assert run.plan_comment == "go ahead"
    async with client_of(store, "read", "write") as api:
        ok(
            await api.post(
                f"/runs/{by_api.id}/plan-decision",
                json={"approve": True, "decided_by": "someone", "comment": "go ahead"},
            )
        )
    page_trail, api_trail = await _audit(store, by_page.id), await _audit(store, by_api.id)
    assert _shape(page_trail) == _shape(api_trail)
    assert page_trail[-1].actor == "Ada Lovelace (dashboard)"


async def test_rejecting_a_plan_cancels_the_run(store: Store) -> None:
    task, run = await _waiting_run(store)
    async with _signed_in(store) as browser:
        await _post(browser, f"/actions/runs/{run.id}/plan", {"decision": "reject"})
        assert (await _outcome(browser))[0] == "done"
        waiting = await browser.get("/waiting")
        assert f'action="/actions/runs/{run.id}/plan"' not in waiting.text
    assert (await store.runs.get(run.id)).status is RunStatus.CANCELLED
    assert (await store.tasks.get(task.id)).status is not TaskStatus.RUNNING


async def test_a_decision_the_service_refuses_shows_why_and_changes_nothing(store: Store) -> None:
    _, run = await _waiting_run(store)
    async with _signed_in(store) as browser:
        await _post(browser, f"/actions/runs/{run.id}/plan", {"decision": "approve"})
        await _outcome(browser)
        before = await _audit(store, run.id)
        await _post(browser, f"/actions/runs/{run.id}/plan", {"decision": "reject"})
        kind, message = await _outcome(browser)
        assert kind == "error"
        assert "not waiting for plan approval" in message
        await _post(browser, f"/actions/runs/{run.id}/plan", {"decision": "maybe"})
        assert await _outcome(browser) == ("error", "choose one of: approve, reject")
    assert (await store.runs.get(run.id)).status is RunStatus.RUNNING
    assert len(await _audit(store, run.id)) == len(before)


async def test_recommendations_are_approved_or_rejected_with_a_comment(store: Store) -> None:
    keep = await store.recommendations.create(
        recommendation_type="cost", title="cache the embeddings", confidence_score=0.9
    )
    drop = await store.recommendations.create(
        recommendation_type="cost", title="use a smaller model", confidence_score=0.4
    )
    async with _signed_in(store, name="Grace") as browser:
        waiting = await browser.get("/waiting")
        for recommendation in (keep, drop):
            assert f'action="/actions/recommendations/{recommendation.id}/decision"' in waiting.text
        await _post(
            browser, f"/actions/recommendations/{keep.id}/decision", {"decision": "approve"}
        )
        assert (await _outcome(browser)) == ("done", "Recommendation approved.")
        await _post(
            browser,
            f"/actions/recommendations/{drop.id}/decision",
            {"decision": "reject", "comment": "quality would drop"},
        )
        assert (await _outcome(browser)) == ("done", "Recommendation rejected.")
        waiting = await browser.get("/waiting")
        assert "use a smaller model" not in waiting.text
    rejected = await store.recommendations.approvals(drop.id)
    assert [(a.status, a.decided_by, a.comment) for a in rejected] == [
        ("REJECTED", "Grace (dashboard)", "quality would drop")
    ]
    assert (await store.recommendations.get(keep.id)).status == "APPROVED"


async def test_modifications_are_decided_then_marked_applied(store: Store) -> None:
    project = await store.projects.create(name="api", repository_url="https://g/api.git")
    change = await store.modifications.request(project.id, request="rename the endpoint")
    async with _signed_in(store) as browser:
        waiting = await browser.get("/waiting")
        assert f'action="/actions/modifications/{change.id}/decision"' in waiting.text
        await _post(
            browser, f"/actions/modifications/{change.id}/decision", {"decision": "approve"}
        )
        assert (await _outcome(browser))[0] == "done"
        assert (await store.modifications.get(change.id)).status == "APPROVED"
        await _post(browser, f"/actions/modifications/{change.id}/applied", {"comment": "in 4f2a"})
        assert (await _outcome(browser)) == ("done", "Modification marked applied.")
    applied = await store.modifications.get(change.id)
    assert applied.status == "APPLIED"


async def test_a_merge_is_refused_while_a_check_fails_then_allowed(store: Store) -> None:
    project = await store.projects.create(name="web", repository_url="https://g/web.git")
    pr = await store.pull_requests.create(
        project_id=project.id, branch_name="feature/login", title="Add login"
    )
    await store.pull_requests.transition(pr.id, "OPEN", actor="engineer")
    await store.pull_requests.record_check(pr.id, name="tests", status="FAILED")
    action = f"/actions/pull-requests/{pr.id}/status"
    async with _signed_in(store) as browser:
        waiting = await browser.get("/waiting")
        assert f'action="{action}"' in waiting.text
        await _post(browser, action, {"status": "APPROVED", "comment": "looks right"})
        assert (await _outcome(browser)) == ("done", "Approved: Add login.")
        await _post(browser, action, {"status": "MERGED"})
        kind, message = await _outcome(browser)
        assert kind == "error"
        assert "tests" in message, message  # the failing check is named
        assert (await store.pull_requests.get(pr.id)).status is PullRequestStatus.APPROVED
        await store.pull_requests.record_check(pr.id, name="tests", status="PASSED")
        await _post(browser, action, {"status": "MERGED"})
        assert (await _outcome(browser)) == ("done", "Merged: Add login.")
        await _post(browser, action, {"status": "CLOSED"})
        assert (await _outcome(browser))[0] == "error"  # not a reviewer's move here
    assert (await store.pull_requests.get(pr.id)).status is PullRequestStatus.MERGED


async def test_a_task_is_retried_and_cancelled(store: Store) -> None:
    task = await store.tasks.create(title="Flaky job")
    first = await store.runs.start(task.id)
    await store.runs.finish(
        first.id, status=RunStatus.FAILED, error_message="timeout talking to the LLM"
    )
    back = f"/tasks/{task.id}"
    async with _signed_in(store) as browser:
        await _post(browser, f"/actions/tasks/{task.id}/retry", {}, back=back)
        assert (await _outcome(browser, back)) == ("done", "Run #2 started.")
        runs = await store.runs.list(task.id)
        assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.RUNNING]
        await _post(
            browser, f"/actions/tasks/{task.id}/cancel", {"comment": "not needed"}, back=back
        )
        assert (await _outcome(browser, back))[0] == "done"
    assert (await store.tasks.get(task.id)).status is TaskStatus.CANCELLED
    assert [r.status for r in await store.runs.list(task.id)][-1] is RunStatus.CANCELLED


async def test_a_run_is_cancelled(store: Store) -> None:
    task = await store.tasks.create(title="Long job")
    run = await store.runs.start(task.id)
    back = f"/runs/{run.id}"
    async with _signed_in(store) as browser:
        await _post(
            browser, f"/actions/runs/{run.id}/cancel", {"comment": "wrong input"}, back=back
        )
        assert (await _outcome(browser, back)) == ("done", "Run #1 cancelled.")
    cancelled = await store.runs.get(run.id)
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.error_message == "wrong input"


async def test_a_read_only_key_sees_buttons_disabled_and_cannot_act(store: Store) -> None:
    _, run = await _waiting_run(store)
    async with _signed_in(store, "read") as browser:
        waiting = await browser.get("/waiting")
        form = waiting.text[waiting.text.index(f'action="/actions/runs/{run.id}/plan"') :]
        assert 'value="approve" class="primary" disabled' in form
        assert "only allow reading" in form
        await _post(browser, f"/actions/runs/{run.id}/plan", {"decision": "approve"})
        kind, message = await _outcome(browser)
        assert kind == "error"
        assert "sign in with a key that has 'write'" in message
    assert (await store.runs.get(run.id)).status is RunStatus.WAITING_APPROVAL


async def test_forms_from_elsewhere_or_without_the_token_change_nothing(store: Store) -> None:
    _, run = await _waiting_run(store)
    action = f"/actions/runs/{run.id}/plan"
    approve = {"decision": "approve"}
    async with _signed_in(store) as browser:
        await _post(browser, action, approve, csrf="0" * 64)
        assert "stale" in (await _outcome(browser))[1]
        await _post(browser, action, approve, csrf="")
        assert "stale" in (await _outcome(browser))[1]
        cross_site = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
        await _post(browser, action, approve, headers=cross_site)
        assert "not sent from this site" in (await _outcome(browser))[1]
        async with _signed_in(store) as other_session:
            foreign_token = _csrf(await other_session.get("/waiting"))
        await _post(browser, action, approve, csrf=foreign_token)
        assert "stale" in (await _outcome(browser))[1]
        huge = await browser.post(action, data={"comment": "x" * 20_000})
        assert huge.status_code == 303
        assert "larger than any action form" in (await _outcome(browser, "/"))[1]
    async with _browser(store) as stranger:
        refused = await stranger.post(action, data={"decision": "approve"})
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/login")
    assert (await store.runs.get(run.id)).status is RunStatus.WAITING_APPROVAL


async def test_another_customers_things_are_not_found(store: Store, other: Store) -> None:
    _, theirs = await _waiting_run(other)
    their_task = await other.tasks.create(title="theirs")
    async with _signed_in(store) as browser:
        token = _csrf(await browser.get("/waiting"))
        form = {"decision": "approve", "csrf": token, "next": "/waiting"}
        foreign = await browser.post(f"/actions/runs/{theirs.id}/plan", data=form)
        missing_id = uuid.uuid4()
        missing = await browser.post(f"/actions/runs/{missing_id}/plan", data=form)
        assert foreign.status_code == missing.status_code == 404
        assert "text/html" in foreign.headers["content-type"]
        assert foreign.text.replace(str(theirs.id), "ID") == missing.text.replace(
            str(missing_id), "ID"
        )
        cancel = await browser.post(f"/actions/tasks/{their_task.id}/cancel", data=form)
        assert cancel.status_code == 404
    assert (await other.runs.get(theirs.id)).status is RunStatus.WAITING_APPROVAL
    assert (await other.tasks.get(their_task.id)).status is TaskStatus.PENDING
