"""Projects, reviews and pull requests over HTTP, with search and the reporting views."""

from __future__ import annotations

from api_client import client_of
from api_client import error_code as _code
from api_client import ok as _ok
from flightlog.store import Store


async def test_projects_contexts_and_modifications(store: Store, other: Store) -> None:
    async with client_of(store) as api, client_of(other) as stranger:
        project = _ok(
            await api.post("/projects", json={"name": "shop", "repository_url": "https://g/s.git"}),
            201,
        )
        assert project["default_branch"] == "main"
        assert _code(await api.post("/projects", json={"name": "shop"}), 409) == "conflict"
        renamed = _ok(await api.patch(f"/projects/{project['id']}", json={"owner": "alice"}))
        assert renamed["owner"] == "alice"
        listed = _ok(await api.get("/projects", params={"owner": "alice"}))
        assert [p["id"] for p in listed["items"]] == [project["id"]]
        assert _code(await stranger.get(f"/projects/{project['id']}"), 404) == "not_found"

        base = f"/projects/{project['id']}/contexts"
        first = _ok(await api.post(base, json={"codebase": {"a.py": 1}, "test_coverage": 60}), 201)
        second = _ok(
            await api.post(base, json={"codebase": {"a.py": 1, "b.py": 2}, "test_coverage": 75}),
            201,
        )
        assert (first["iteration"], second["iteration"]) == (1, 2)
        diff = _ok(
            await api.get(f"{base}/compare", params={"from_iteration": 1, "to_iteration": 2})
        )
        assert diff["score_deltas"]["test_coverage"] == 15
        assert _ok(await api.get(f"{base}/2"))["id"] == second["id"]
        assert [c["iteration"] for c in _ok(await api.get(base))] == [1, 2]

        mods = f"/projects/{project['id']}/modifications"
        mod = _ok(
            await api.post(mods, json={"request": "Add rate limits", "requested_by": "bob"}), 201
        )
        assert mod["status"] == "PENDING"
        approved = _ok(
            await api.post(
                f"/modifications/{mod['id']}/decision",
                json={"approve": True, "decided_by": "carol"},
            )
        )
        assert (approved["status"], approved["decided_by"]) == ("APPROVED", "carol")
        applied = _ok(
            await api.post(f"/modifications/{mod['id']}/applied", json={"result": {"c": 1}})
        )
        assert applied["status"] == "APPLIED"
        again = await api.post(
            f"/modifications/{mod['id']}/decision", json={"approve": False, "decided_by": "dan"}
        )
        assert _code(again, 409) == "invalid_transition"
        page = _ok(await api.get(mods, params={"status": "applied"}))
        assert [m["id"] for m in page["items"]] == [mod["id"]]

        assert (await api.delete(f"/projects/{project['id']}")).status_code == 204
        assert _code(await api.get(f"/projects/{project['id']}"), 404) == "not_found"


async def test_recommendations_approvals_and_optimizations(store: Store) -> None:
    async with client_of(store) as api:
        rec = _ok(
            await api.post(
                "/recommendations",
                json={
                    "recommendation_type": "cost",
                    "title": "Right-size the workers",
                    "confidence_score": 0.9,
                    "estimated_savings": "1200.50",
                },
            ),
            201,
        )
        assert (rec["status"], rec["priority"]) == ("PENDING", "MEDIUM")
        pending = _ok(await api.get("/approvals/pending"))
        assert [a["recommendation_id"] for a in pending] == [rec["id"]]
        too_early = await api.post(f"/recommendations/{rec['id']}/optimizations")
        assert _code(too_early, 409) == "invalid_transition"

        approval = _ok(
            await api.post(
                f"/recommendations/{rec['id']}/decision",
                json={"approve": True, "decided_by": "carol", "comment": "go"},
            )
        )
        assert (approval["status"], approval["decided_by"]) == ("APPROVED", "carol")
        assert _ok(await api.get("/approvals/pending")) == []

        opt = _ok(await api.post(f"/recommendations/{rec['id']}/optimizations"), 201)
        assert opt["status"] == "QUEUED"
        _ok(await api.post(f"/optimizations/{opt['id']}/begin"))
        moved = _ok(await api.post(f"/optimizations/{opt['id']}/progress", json={"progress": 40}))
        assert (moved["status"], moved["progress"]) == ("EXECUTING", 40)
        bad = await api.post(f"/optimizations/{opt['id']}/progress", json={"progress": 140})
        assert _code(bad, 422) == "validation_error"
        done = _ok(
            await api.post(f"/optimizations/{opt['id']}/complete", json={"actual_savings": "900"})
        )
        assert (done["status"], done["progress"]) == ("COMPLETED", 100)
        undone = _ok(
            await api.post(f"/optimizations/{opt['id']}/rollback", json={"reason": "latency"})
        )
        assert undone["status"] == "ROLLED_BACK"
        assert _ok(await api.get(f"/recommendations/{rec['id']}"))["status"] == "ROLLED_BACK"
        listed = _ok(await api.get("/optimizations", params={"status": "rolled_back"}))
        assert [o["id"] for o in listed] == [opt["id"]]


async def test_pull_requests_checks_block_merges_and_the_validation_view(store: Store) -> None:
    async with client_of(store) as api:
        project = _ok(
            await api.post("/projects", json={"name": "api", "repository_url": "https://g/a.git"}),
            201,
        )
        pr = _ok(
            await api.post(
                "/pull-requests",
                json={
                    "project_id": project["id"],
                    "branch_name": "feat/x",
                    "title": "X",
                    "pr_number": 7,
                },
            ),
            201,
        )
        assert (pr["status"], pr["repository_url"]) == ("DRAFT", "https://g/a.git")
        duplicate = {"project_id": project["id"], "branch_name": "b", "title": "Y", "pr_number": 7}
        assert _code(await api.post("/pull-requests", json=duplicate), 409) == "conflict"
        for target in ("open", "approved"):
            _ok(await api.post(f"/pull-requests/{pr['id']}/status", json={"status": target}))
        check = {"name": "tests", "status": "failed", "details": {"failed": 3}}
        _ok(await api.post(f"/pull-requests/{pr['id']}/checks", json=check))
        view = _ok(await api.get(f"/pull-requests/{pr['id']}/validation"))
        assert (view["failed_checks"], view["validation_state"]) == (1, "FAILED")
        blocked = await api.post(f"/pull-requests/{pr['id']}/status", json={"status": "merged"})
        assert _code(blocked, 409) == "conflict"
        _ok(await api.post(f"/pull-requests/{pr['id']}/checks", json={**check, "status": "passed"}))
        merged = _ok(await api.post(f"/pull-requests/{pr['id']}/status", json={"status": "merged"}))
        assert merged["merged_at"] is not None
        assert [c["status"] for c in _ok(await api.get(f"/pull-requests/{pr['id']}/checks"))] == [
            "PASSED"
        ]
        listed = _ok(await api.get("/pull-requests", params={"project_id": project["id"]}))
        assert [p["id"] for p in listed] == [pr["id"]]


async def test_search_and_views_answer_for_the_callers_tasks_only(
    store: Store, other: Store
) -> None:
    async with client_of(store) as api, client_of(other) as stranger:
        task = _ok(await api.post("/tasks", json={"title": "Migrate the billing database"}), 201)
        await stranger.post("/tasks", json={"title": "Billing dashboard for them"})
        hits = _ok(await api.get("/search/tasks", params={"q": "billing"}))
        assert [h["task"]["id"] for h in hits] == [task["id"]]
        assert hits[0]["rank"] > 0
        assert _ok(await api.get("/search/tasks", params={"q": '"unbalanced AND (or'})) == []
        active = _ok(await api.get("/views/active-tasks"))
        assert [a["task_id"] for a in active] == [task["id"]]
        run = _ok(await api.post(f"/tasks/{task['id']}/runs"), 201)
        await api.post(f"/runs/{run['id']}/finish", json={})
        summary = _ok(await api.get(f"/views/task-execution-summary/{task['id']}"))
        assert (summary["total_executions"], summary["successful_executions"]) == (1, 1)
        overview = _ok(await api.get("/views/overview"))
        assert overview["tasks_by_status"] == {"COMPLETED": 1}
        assert (overview["runs_by_status"], overview["run_success_rate"]) == (
            {"COMPLETED": 1},
            100.0,
        )
        assert (
            _code(await stranger.get(f"/views/task-execution-summary/{task['id']}"), 404)
            == "not_found"
        )


async def test_reviews_of_another_customer_cannot_be_read_or_changed(
    store: Store, other: Store
) -> None:
    async with client_of(store) as api, client_of(other) as stranger:
        project = _ok(await api.post("/projects", json={"name": "mine"}), 201)
        rec = _ok(
            await api.post(
                "/recommendations",
                json={"recommendation_type": "cost", "title": "t", "confidence_score": 0.5},
            ),
            201,
        )
        pr = _ok(
            await api.post(
                "/pull-requests",
                json={
                    "project_id": project["id"],
                    "branch_name": "b",
                    "title": "t",
                    "repository_url": "https://g/m.git",
                },
            ),
            201,
        )
        decision = {"approve": True, "decided_by": "mallory"}
        foreign = [
            stranger.get(f"/recommendations/{rec['id']}"),
            stranger.post(f"/recommendations/{rec['id']}/decision", json=decision),
            stranger.post(
                "/pull-requests",
                json={"project_id": project["id"], "branch_name": "x", "title": "x"},
            ),
            stranger.post(f"/pull-requests/{pr['id']}/status", json={"status": "open"}),
            stranger.post(
                f"/pull-requests/{pr['id']}/checks", json={"name": "ci", "status": "passed"}
            ),
            stranger.get(f"/pull-requests/{pr['id']}/validation"),
            stranger.post(f"/projects/{project['id']}/modifications", json={"request": "x"}),
        ]
        for attempt in foreign:
            assert _code(await attempt, 404) == "not_found"
        assert _ok(await stranger.get("/approvals/pending")) == []
        assert _ok(await stranger.get("/views/overview"))["waiting_for_a_person"] == {
            "run plans": 0,
            "recommendations": 0,
            "modifications": 0,
            "pull requests": 0,
        }
        assert _ok(await api.get("/views/overview"))["waiting_for_a_person"]["recommendations"] == 1

        # Merging needs at least one recorded check, all passed.
        for target in ("open", "approved"):
            _ok(await api.post(f"/pull-requests/{pr['id']}/status", json={"status": target}))
        unchecked = await api.post(f"/pull-requests/{pr['id']}/status", json={"status": "merged"})
        assert _code(unchecked, 409) == "conflict"
        assert "no validation checks" in unchecked.json()["error"]["message"]
        assert _ok(await api.get(f"/recommendations/{rec['id']}"))["status"] == "PENDING"


async def test_templates_render_and_become_projects(store: Store, other: Store) -> None:
    body = {
        "name": "fastapi-service",
        "files": {
            "{{package}}/main.py": 'app = FastAPI(title="{{title}}")\n',
            "README.md": "# {{title}}\n",
        },
        "required_variables": ["package", "title"],
        "tech_stack": ["python", "fastapi"],
        "tags": ["backend"],
    }
    async with client_of(store) as api, client_of(other) as stranger:
        template = _ok(await api.post("/templates", json=body), 201)
        undeclared = {**body, "name": "bad", "files": {"x.py": "{{nope}}"}}
        assert _code(await api.post("/templates", json=undeclared), 422) == "validation_error"
        listed = _ok(await api.get("/templates", params={"tech_stack": "fastapi"}))
        assert [t["id"] for t in listed["items"]] == [template["id"]]
        variables = {"variables": {"package": "shop", "title": "Shop"}}
        rendered = _ok(await api.post(f"/templates/{template['id']}/render", json=variables))
        assert rendered == {
            "shop/main.py": 'app = FastAPI(title="Shop")\n',
            "README.md": "# Shop\n",
        }
        huge = {"variables": {"package": "p", "title": "t" * 20_000_000}}
        too_big = await api.post(f"/templates/{template['id']}/render", json=huge)
        assert _code(too_big, 422) == "validation_error"
        assert "the limit is" in too_big.json()["error"]["message"]
        missing = await api.post(f"/templates/{template['id']}/render", json={"variables": {}})
        assert "package" in missing.json()["error"]["message"]
        made = _ok(
            await api.post(
                f"/templates/{template['id']}/projects", json={"name": "shop", **variables}
            ),
            201,
        )
        assert made["project"]["name"] == "shop"
        assert made["context"]["iteration"] == 1
        assert _code(await stranger.get(f"/templates/{template['id']}"), 404) == "not_found"
        changed = _ok(await api.patch(f"/templates/{template['id']}", json={"tags": ["api"]}))
        assert changed["tags"] == ["api"]
        assert (await api.delete(f"/templates/{template['id']}")).status_code == 204
        assert _code(await api.get(f"/templates/{template['id']}"), 404) == "not_found"
