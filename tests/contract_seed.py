"""The contract test's database: a customer's API key and one of each entity."""

from __future__ import annotations

from flightlog.settings import Settings
from flightlog.store import Store, open_store


async def _one_of_each(store: Store) -> tuple[dict[str, str], dict[str, str]]:
    """One of each entity (and, for DELETE, a second task, project and template)."""
    task = await store.tasks.create(title="contract task", input_prompt="check the contract")
    run = await store.runs.start(task.id)
    agent_run = await store.agent_runs.start(run.id, agent_name="planner")
    agent = await store.agents.register("contract-agent", "engineer")
    artifact = await store.artifacts.put(task.id, "report.txt", b"hello", content_type="text/plain")
    project = await store.projects.create(name="contract project", repository_url="https://g/c")
    await store.project_contexts.add_iteration(project.id, notes="first")
    modification = await store.modifications.request(project.id, request="rename it")
    template = await store.templates.create(
        name="contract template", files={"README.md": "{{name}}"}, required_variables=["name"]
    )
    recommendation = await store.recommendations.create(
        recommendation_type="cost", title="use a cache", confidence_score=0.8
    )
    await store.recommendations.decide(recommendation.id, approve=True, decided_by="reviewer")
    optimization = await store.optimizations.start(recommendation.id)
    pull_request = await store.pull_requests.create(
        project_id=project.id, branch_name="feat/contract", title="Contract"
    )
    ids = {
        "task_id": task.id,
        "run_id": run.id,
        "agent_run_id": agent_run.id,
        "agent_id": agent.id,
        "artifact_id": artifact.id,
        "name": "report.txt",
        "project_id": project.id,
        "iteration": 1,
        "modification_id": modification.id,
        "template_id": template.id,
        "recommendation_id": recommendation.id,
        "optimization_id": optimization.id,
        "pull_request_id": pull_request.id,
    }
    doomed = {
        "task_id": (await store.tasks.create(title="to delete")).id,
        "project_id": (await store.projects.create(name="to delete")).id,
        "template_id": (await store.templates.create(name="to delete")).id,
    }
    return (
        {name: str(value) for name, value in ids.items()},
        {name: str(value) for name, value in doomed.items()},
    )


async def seed(settings: Settings) -> tuple[str, dict[str, str], dict[str, str]]:
    """A new API key, the ids of one of each entity, and of the entities to delete."""
    async with open_store(settings=settings) as store:
        key = (await store.api_keys.create("contract")).key
        ids, doomed = await _one_of_each(store)
    return key, ids, doomed
