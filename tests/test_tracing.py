"""The tracing SDK records runs and steps as agent code runs, embedded and over HTTP.

Every test runs on SQLite and PostgreSQL, once through an embedded tracer
(the async Store in the tracer's worker) and once through a real
``flightlog serve``, and reads back what arrived from the database itself.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

import flightlog.tracing as fl
from flightlog import AgentRunStatus, EventType, RunStatus, TaskStatus
from flightlog.settings import Settings
from flightlog.tracing import NotRecorded, Tracer
from postgres_server import PostgresServer
from tracing_support import (
    Databases,
    Target,
    by_name,
    close_all,
    databases,
    target,
    url_text,
)

TIMEOUT = 60.0


@pytest.fixture(scope="module")
def own_databases(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[Databases]:
    yield from databases(tmp_path_factory.mktemp("tracing"), postgres_server, test_settings)


@pytest.fixture(params=["embedded", "http"])
def where(
    request: pytest.FixtureRequest, dialect: str, own_databases: Databases
) -> Iterator[Target]:
    made: list[Tracer] = []
    yield target(request.param, dialect, own_databases, made)
    close_all(made)


def test_a_run_block_records_the_run_its_nested_steps_usage_and_data(where: Target) -> None:
    tracer = where.tracer()

    @tracer.agent_step("Engineer")
    def engineer(spec: str, *, language: str = "python") -> str:
        fl.usage(prompt_tokens=900, completion_tokens=400, cost="0.012")
        return f"{language} code for {spec}"

    with tracer.run(title="Build a todo app", input_context={"user": "ada"}) as run:
        with run.agent("Architect") as architect:
            architect.usage(prompt_tokens=100, completion_tokens=30, cost=0.001)
            architect.usage(prompt_tokens=20, completion_tokens=10, cost=Decimal("0.001"))
            run.event("message", content="design done", data={"pages": 3})
            with run.agent("Reviewer", input={"draft": 1}) as reviewer:
                run.metric("review.score", 0.8, unit="ratio")
                reviewer.set_output("approved")
        code = engineer("a todo app")
        run.artifact("design.md", "# Design\n")
        run.set_results({"code": code})
    assert tracer.flush(TIMEOUT), tracer.stats

    rows = where.rows()
    run_id, task_id = run.id.get(), run.task_id.get()
    stored = rows.run(run_id)
    assert stored.status is RunStatus.COMPLETED
    assert stored.task_id == task_id
    assert stored.input_context == {"user": "ada"}
    assert stored.results == {"code": "python code for a todo app"}
    assert (stored.tokens_in, stored.tokens_out, stored.cost_usd) == (
        1020,
        440,
        Decimal("0.014"),
    )
    assert rows.task(task_id).title == "Build a todo app"
    assert rows.task(task_id).status is TaskStatus.COMPLETED

    steps = by_name(rows.agent_runs(run_id))
    assert set(steps) == {"Architect", "Reviewer", "Engineer"}
    assert all(s.status is AgentRunStatus.COMPLETED for s in steps.values())
    assert steps["Architect"].id == architect.id.get()
    assert steps["Reviewer"].parent_id == steps["Architect"].id
    assert steps["Architect"].parent_id is None
    assert steps["Engineer"].parent_id is None
    assert (steps["Architect"].tokens_in, steps["Architect"].tokens_out) == (120, 40)
    assert steps["Architect"].cost_usd == Decimal("0.002")
    assert steps["Reviewer"].details == {"input": "{'draft': 1}"}
    assert steps["Reviewer"].output_summary == "approved"
    assert steps["Engineer"].details == {"input": "spec=a todo app"}
    assert steps["Engineer"].output_summary == "python code for a todo app"
    assert all(s.duration_seconds is not None for s in steps.values())

    (message,) = rows.events(run_id, "MESSAGE")
    assert message.content == "design done"
    assert message.data == {"pages": 3}
    assert message.agent_run_id == steps["Architect"].id
    assert message.agent_role == "Architect"
    (point,) = rows.metrics(run_id)
    assert (point.name, point.value, point.unit) == ("review.score", 0.8, "ratio")
    assert point.agent_run_id == steps["Reviewer"].id
    (artifact,) = rows.artifacts(run_id)
    assert artifact.name == "design.md"
    assert artifact.task_id == task_id
    stats = tracer.stats
    assert (stats.pending, stats.dropped, stats.refused) == (0, 0, 0)


def test_an_exception_fails_the_run_and_its_step_and_is_reraised_unchanged(
    where: Target,
) -> None:
    tracer = where.tracer()
    boom = ValueError("the model answered nonsense")

    def plan() -> None:
        raise boom

    run = tracer.run(title="Doomed")

    def doomed() -> None:
        with run, run.agent("Planner"):
            run.event("log", content="about to plan")
            plan()

    with pytest.raises(ValueError, match="nonsense") as raised:
        doomed()
    assert raised.value is boom
    assert raised.traceback[-1].name == "plan"  # the traceback is the program's own
    assert tracer.flush(TIMEOUT), tracer.stats

    rows = where.rows()
    stored = rows.run(run.id.get())
    assert stored.status is RunStatus.FAILED
    assert stored.error_message == "ValueError: the model answered nonsense"
    assert stored.error_details is not None
    assert stored.error_details["type"] == "builtins.ValueError"
    assert stored.error_details["message"] == "the model answered nonsense"
    assert "in plan" in stored.error_details["traceback"]
    (planner,) = rows.agent_runs(stored.id)
    assert planner.status is AgentRunStatus.FAILED
    assert planner.error_message == "ValueError: the model answered nonsense"
    assert [e.content for e in rows.events(stored.id, "LOG")] == ["about to plan"]


def test_cancellation_and_interrupts_end_a_run_cancelled(where: Target) -> None:
    tracer = where.tracer()
    run = tracer.run(title="Interrupted")

    def interrupted() -> None:
        with run, run.agent("Looper"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert tracer.flush(TIMEOUT), tracer.stats
    rows = where.rows()
    stored = rows.run(run.id.get())
    assert stored.status is RunStatus.CANCELLED
    assert stored.error_message == "KeyboardInterrupt"
    (looper,) = rows.agent_runs(stored.id)
    assert looper.status is AgentRunStatus.CANCELLED


def test_decorated_sync_and_async_functions_become_nested_steps(where: Target) -> None:
    tracer = where.tracer()

    @fl.agent_step
    async def research(topic: str) -> list[str]:
        await asyncio.sleep(0)
        fl.usage(prompt_tokens=10, completion_tokens=5, cost=0.0001)
        return [f"{topic} paper"]

    @fl.agent_step("Writer", capture_input=False)
    async def write(topic: str, api_key: str) -> str:
        sources = await research(topic)
        return f"{len(sources)} source(s)"

    @fl.agent_step("Checker")
    def check(text: str) -> bool:
        if "0" in text:
            raise RuntimeError("no sources")
        return True

    async def main() -> tuple[str, uuid.UUID]:
        async with tracer.run(title="Write a report") as run:
            report = await write("tracing", api_key="secret")
            assert check(report)
            with pytest.raises(RuntimeError):
                check("0 source(s)")
        async with asyncio.timeout(TIMEOUT):
            return report, await run.id.wait()

    report, run_id = asyncio.run(main())
    assert report == "1 source(s)"
    assert tracer.flush(TIMEOUT), tracer.stats

    rows = where.rows()
    steps = rows.agent_runs(run_id)
    assert [s.agent_name for s in steps] == ["Writer", "research", "Checker", "Checker"]
    writer, researcher, passed, failed = steps
    assert researcher.parent_id == writer.id
    assert researcher.details == {"input": "topic=tracing"}
    assert researcher.output_summary == "['tracing paper']"
    assert (researcher.tokens_in, researcher.tokens_out) == (10, 5)
    assert writer.details == {}  # capture_input=False: the key stays out of the database
    assert writer.output_summary == "1 source(s)"
    assert (passed.status, passed.output_summary) == (AgentRunStatus.COMPLETED, "True")
    assert failed.status is AgentRunStatus.FAILED
    assert failed.error_message == "RuntimeError: no sources"
    assert rows.run(run_id).status is RunStatus.COMPLETED


def test_asyncio_tasks_each_keep_their_own_current_step(where: Target) -> None:
    tracer = where.tracer()
    seen: dict[str, list[str]] = {}

    async def agent(name: str, run: fl.Run) -> None:
        with run.agent(name) as step:
            for _ in range(3):
                await asyncio.sleep(0)  # let the other tasks run in between
                assert fl.current_step() is step
            with run.agent(f"{name}.tool") as tool:
                await asyncio.sleep(0)
                assert fl.current_step() is tool
                run.event("log", content=name)
            assert fl.current_step() is step
            seen[name] = [step.name, tool.name]

    async def main() -> uuid.UUID:
        with tracer.run(title="Parallel agents") as run:
            await asyncio.gather(*(agent(f"agent{i}", run) for i in range(4)))
            assert fl.current_step() is None
        return await run.id.wait()

    run_id = asyncio.run(main())
    assert tracer.flush(TIMEOUT), tracer.stats

    rows = where.rows()
    steps = by_name(rows.agent_runs(run_id))
    assert len(steps) == 8
    for i in range(4):
        name = f"agent{i}"
        assert steps[f"{name}.tool"].parent_id == steps[name].id
        assert steps[name].parent_id is None
    logs = {e.content: e.agent_run_id for e in rows.events(run_id, "LOG")}
    assert logs == {f"agent{i}": steps[f"agent{i}.tool"].id for i in range(4)}


def test_threads_each_keep_their_own_current_step(where: Target) -> None:
    tracer = where.tracer()
    together = threading.Barrier(4, timeout=30)
    outside: list[object] = []

    def worker(name: str) -> str:
        run = fl.current_run()
        assert run is not None  # carried over by in_current_context
        with run.agent(name) as step:
            together.wait()  # all four steps are open at once
            assert fl.current_step() is step
            run.event("log", content=name)
        return name

    def plain_thread() -> None:
        outside.append(fl.current_run())

    with tracer.run(title="Threads") as run, run.agent("Lead") as lead:
        with ThreadPoolExecutor(max_workers=4) as pool:
            names = list(pool.map(fl.in_current_context(worker), [f"w{i}" for i in range(4)]))
        thread = threading.Thread(target=plain_thread)
        thread.start()
        thread.join()
        assert fl.current_step() is lead
    assert names == ["w0", "w1", "w2", "w3"]
    assert outside == [None]  # a thread does not inherit the context by itself
    assert tracer.flush(TIMEOUT), tracer.stats

    rows = where.rows()
    steps = by_name(rows.agent_runs(run.id.get()))
    assert {steps[f"w{i}"].parent_id for i in range(4)} == {steps["Lead"].id}
    logs = {e.content: e.agent_run_id for e in rows.events(run.id.get(), "LOG")}
    assert logs == {f"w{i}": steps[f"w{i}"].id for i in range(4)}


def test_a_run_of_an_existing_task_and_of_a_missing_one(where: Target) -> None:
    tracer = where.tracer()
    with tracer.run(title="First") as first:
        pass
    task_id = first.task_id.get(TIMEOUT)
    with tracer.run(task_id) as again:
        again.event("log", content="second run")
    missing = uuid.uuid4()
    with tracer.run(str(missing)) as lost, lost.agent("Nobody") as nobody:
        lost.event("log", content="never stored")  # accepted now, refused with its run
    with tracer.run("not-a-uuid") as malformed:
        assert not malformed.event("log", content="dropped")
    assert tracer.flush(TIMEOUT), tracer.stats

    rows = where.rows()
    second = rows.run(again.id.get())
    assert (second.task_id, second.run_number) == (task_id, 2)
    with pytest.raises(NotRecorded, match=r"NotFound"):
        lost.id.get()
    with pytest.raises(NotRecorded):
        nobody.id.get()
    with pytest.raises(NotRecorded, match="not a UUID"):
        malformed.id.get()
    stats = tracer.stats
    # The missing task's run, step start and finish, event and run finish; the malformed run.
    assert stats.refused == 6
    assert stats.dropped == 1
    assert stats.pending == 0


def test_run_takes_a_task_id_or_a_title(where: Target) -> None:
    tracer = where.tracer()
    with pytest.raises(TypeError, match="exactly one"):
        tracer.run()
    with pytest.raises(TypeError, match="exactly one"):
        tracer.run(uuid.uuid4(), title="both")


def test_records_after_close_are_dropped_not_raised(where: Target) -> None:
    tracer = where.tracer()
    with tracer.run(title="Closing") as run:
        run.event("log", content="kept")
    assert tracer.close(TIMEOUT)
    assert not run.event("log", content="late")
    with tracer.run(title="After close") as late:
        assert not late.event("log", content="late too")
    with pytest.raises(NotRecorded):
        late.id.get(1)
    stats = tracer.stats
    assert stats.pending == 0
    assert stats.dropped == 3  # the late event, the late run, and its event
    assert [e.content for e in where.rows().events(run.id.get(), "LOG")] == ["kept"]


def test_events_keep_the_programs_order_around_steps(where: Target) -> None:
    tracer = where.tracer()
    with tracer.run(title="Order") as run:
        run.event("log", content="before")
        with run.agent("Middle"):
            run.event("log", content="inside")
        run.event("log", content="after")
    assert tracer.flush(TIMEOUT)
    kinds = [
        (e.event_type, e.content)
        for e in where.rows().events(run.id.get())
        if e.event_type is not EventType.STATUS_CHANGE
    ]
    assert kinds == [
        (EventType.LOG, "before"),
        (EventType.AGENT_START, "Middle started"),
        (EventType.LOG, "inside"),
        (EventType.AGENT_COMPLETE, "Middle completed"),
        (EventType.LOG, "after"),
    ]


def test_module_level_default_tracer(where: Target) -> None:
    if where.face == "http":
        assert where.server is not None
        tracer = fl.configure(where.server.base, api_key=where.api_key)
    else:
        tracer = fl.configure(url_text(where.url), settings=where.settings)
    where.made.append(tracer)
    assert fl.get_tracer() is tracer
    assert not fl.event("log", content="no run")
    with fl.run(title="Default tracer") as run:
        assert fl.current_run() is run
        assert fl.event("log", content="yes")
        assert fl.metric("m", 1)
        assert not fl.usage(prompt_tokens=1)  # no step
    assert fl.flush(TIMEOUT)
    assert fl.shutdown(TIMEOUT)
    assert [e.content for e in where.rows().events(run.id.get(), "LOG")] == ["yes"]


def test_a_refused_record_is_counted_and_the_rest_of_its_batch_arrives(where: Target) -> None:
    tracer = where.tracer()
    too_big = "x" * (1_048_576 + 1)  # past the default FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES
    with tracer.run(title="Refusals") as run, run.agent("Sloppy") as step:
        for i in range(20):
            assert run.event("log", content=f"ok {i}")
            if i == 7:
                assert run.event("log", content=too_big)  # refused by Flightlog, in its batch
        assert run.event("no_such_type", content="?")  # refused when the worker validates it
        assert not step.usage(prompt_tokens=-1)  # refused on the spot
        assert not run.metric("ratio", float("nan"))
    assert tracer.flush(TIMEOUT), tracer.stats
    stats = tracer.stats
    assert (stats.refused, stats.pending, stats.dropped) == (4, 0, 0)
    rows = where.rows()
    assert [e.content for e in rows.events(run.id.get(), "LOG")] == [f"ok {i}" for i in range(20)]
    assert rows.run(run.id.get()).status is RunStatus.COMPLETED
