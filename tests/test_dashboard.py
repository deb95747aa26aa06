"""The dashboard: sign in with a key, see only your own work, escaped, with no open redirect."""

from __future__ import annotations

import httpx

from api_client import app_for
from flightlog.store import Store


def _browser(store: Store, **setting_changes: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_for(store, **setting_changes))
    return httpx.AsyncClient(transport=transport, base_url="http://flightlog.test")


async def _sign_in(browser: httpx.AsyncClient, key: str, next_path: str = "/") -> httpx.Response:
    return await browser.post("/login", data={"key": key, "next": next_path})


async def _seed(store: Store) -> dict[str, str]:
    task = await store.tasks.create(title="<script>alert('x')</script> Build the API", tags=["web"])
    run = await store.runs.start(task.id)
    step = await store.agent_runs.start(run.id, agent_name="Engineer")
    await store.agent_runs.finish(step.id, output_summary="wrote handlers", tokens_in=900)
    await store.events.append({"event_type": "message", "task_id": task.id, "content": "hi <b>"})
    await store.artifacts.put(task.id, "api.py", b"print('ok')")
    await store.runs.fail(run.id, error_message="tests failed")
    await store.agents.register("qa-bot", "qa", capabilities=["pytest"])
    return {"task": str(task.id), "run": str(run.id)}


async def test_pages_need_a_signed_in_key(store: Store) -> None:
    async with _browser(store) as browser:
        page = await browser.get("/tasks", params={"status": "failed"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/tasks%3Fstatus%3Dfailed"
        login = await browser.get("/login", params={"next": "/tasks"})
        assert login.status_code == 200
        assert 'name="key"' in login.text
        refused = await _sign_in(browser, "fl_00000000_" + "A" * 43)
        assert refused.status_code == 401
        assert "invalid API key" in refused.text
        assert "flightlog_key" not in refused.headers.get("set-cookie", "")


async def test_signing_in_sets_an_httponly_cookie_and_never_redirects_away(
    store: Store,
) -> None:
    created = await store.api_keys.create("dashboard", scopes=["read"])
    async with _browser(store) as browser:
        for elsewhere in (
            "//evil.example/steal",
            "https://evil.example",
            "/\\evil.example",
            "/\x01x",
        ):
            signed = await _sign_in(browser, created.key, elsewhere)
            assert signed.status_code == 303
            assert signed.headers["location"] == "/"
        kept = await _sign_in(browser, created.key, "/tasks?status=failed")
        assert kept.headers["location"] == "/tasks?status=failed"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert (await browser.get("/")).status_code == 200
        out = await browser.post("/logout")
        assert out.status_code == 303
        assert (await browser.get("/")).status_code == 303


async def test_the_pages_show_the_tenants_work_escaped(store: Store, other: Store) -> None:
    ids = await _seed(store)
    theirs = await other.tasks.create(title="Their secret project")
    their_run = await other.runs.start(theirs.id, plan={"p": 1}, await_plan_approval=True)
    their_step = await other.agent_runs.start(their_run.id, agent_name="TheirAgent")
    await other.agent_runs.finish(their_step.id, status="failed", error_message="their error")
    await other.recommendations.create(
        recommendation_type="cost", title="Their rec", confidence_score=0.5
    )
    created = await store.api_keys.create("dashboard", scopes=["read"])
    async with _browser(store) as browser:
        await _sign_in(browser, created.key)
        overview = await browser.get("/")
        assert overview.status_code == 200
        assert "Engineer" in overview.text  # busiest agents
        assert "tests failed" in overview.text  # recent failures
        for leak in ("TheirAgent", "their error", "Their secret project"):
            assert leak not in overview.text
        assert (await browser.get(f"/runs/{their_run.id}")).status_code == 404
        tasks = (await browser.get("/tasks")).text
        assert "Build the API" in tasks
        assert "Their secret project" not in tasks
        assert "<script>alert" not in tasks
        assert "&lt;script&gt;" in tasks
        task = (await browser.get(f"/tasks/{ids['task']}")).text
        assert "api.py" in task
        assert "hi &lt;b&gt;" in task
        assert "tests failed" in task
        run = (await browser.get(f"/runs/{ids['run']}")).text
        assert "wrote handlers" in run
        assert "900 tokens" in run
        agents = (await browser.get("/agents")).text
        assert "qa-bot" in agents
        assert "STARTING" in agents
        failed = (await browser.get("/tasks", params={"status": "failed"})).text
        assert "Build the API" in failed


async def test_another_tenants_task_is_a_404_page_and_revoked_keys_sign_out(
    store: Store, other: Store
) -> None:
    theirs = await other.tasks.create(title="Their task")
    created = await store.api_keys.create("dashboard")
    async with _browser(store, api_key_cache_seconds=0) as browser:
        await _sign_in(browser, created.key)
        missing = await browser.get(f"/tasks/{theirs.id}")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "Their task" not in missing.text
        await store.api_keys.revoke(created.id)
        bounced = await browser.get("/")
        assert bounced.status_code == 303
        assert 'flightlog_key=""' in bounced.headers["set-cookie"]  # the dead key is dropped


async def test_sign_in_forms_from_other_sites_are_refused(store: Store) -> None:
    created = await store.api_keys.create("dashboard")
    async with _browser(store) as browser:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "null"},
        ):
            forged = await browser.post("/login", data={"key": created.key}, headers=headers)
            assert forged.status_code == 403
            assert "set-cookie" not in forged.headers
        same = await browser.post(
            "/login",
            data={"key": created.key},
            headers={"Origin": "http://flightlog.test", "Sec-Fetch-Site": "same-origin"},
        )
        assert same.status_code == 303
        logout = await browser.post("/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert logout.status_code == 403
        assert (await browser.get("/")).status_code == 200  # still signed in


async def test_bad_addresses_are_html_error_pages(store: Store) -> None:
    created = await store.api_keys.create("dashboard")
    async with _browser(store) as browser:
        await _sign_in(browser, created.key)
        for path, status in (
            ("/tasks?status=bogus", 422),
            ("/tasks/not-a-uuid", 422),
            ("/nope", 404),
        ):
            response = await browser.get(path)
            assert response.status_code == status, path
            assert response.headers["content-type"].startswith("text/html"), path


async def _waiting_work(store: Store, label: str) -> None:
    task = await store.tasks.create(title=f"{label} task")
    await store.runs.start(task.id, plan={"steps": [f"{label} <step>"]}, await_plan_approval=True)
    await store.recommendations.create(
        recommendation_type="cost", title=f"{label} recommendation", confidence_score=0.8
    )
    project = await store.projects.create(name=f"{label}-project", repository_url="https://g/x.git")
    await store.modifications.request(project.id, request=f"{label} modification")
    pr = await store.pull_requests.create(
        project_id=project.id, branch_name="b", title=f"{label} PR"
    )
    await store.pull_requests.open(pr.id)


async def test_the_waiting_page_lists_what_waits_for_a_person(store: Store, other: Store) -> None:
    await _waiting_work(store, "Ours")
    await _waiting_work(other, "Theirs")
    created = await store.api_keys.create("dashboard", scopes=["read"])
    async with _browser(store) as browser:
        await _sign_in(browser, created.key)
        text = (await browser.get("/waiting")).text
    for item in ("Ours task", "Ours recommendation", "Ours modification", "Ours PR"):
        assert item in text
    assert "Theirs" not in text
    assert "<step>" not in text  # the plan is shown as escaped JSON
