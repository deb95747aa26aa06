"""Every ```python block of docs/tracing.md runs embedded on both dialects and over HTTP.

Each block is a complete program with one ``fl.configure("<url>")`` line. The
test points that line at an empty database of the dialect (or at a real
``flightlog serve`` on one, adding its API key), records which ``assert``
statements run, executes the program as a process of its own (see
``program_runner``), requires a clean exit with every assert executed, and
then reads the rows the program left: every run and agent run is finished,
and the block's own outcome is there.
"""

from __future__ import annotations

import ast
import marshal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flightlog import AgentRunStatus, RunStatus
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import AgentRun, Artifact, Task, TaskRun
from flightlog.settings import Settings
from program_runner import ForkServer, ProgramTimeout
from test_docs_examples import (
    RECORDER,
    REPORT_MARKER,
    Block,
    _AssertRecorder,
    _child_env,
    _executed_asserts,
    extract_blocks,
)
from tracing_support import Served, make_api_key, url_text

DOC = Path(__file__).resolve().parents[1] / "docs" / "tracing.md"
BLOCKS = extract_blocks(DOC.read_text(encoding="utf-8"), DOC)
TIMEOUT_SECONDS = 300


def _is_configure(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "fl.configure"
        and len(node.value.args) == 1
        and isinstance(node.value.args[0], ast.Constant)
        and not node.value.keywords
    )


def prepare(block: Block, url: str, api_key: str | None) -> tuple[bytes, frozenset[int]]:
    """The block pointed at ``url`` (with ``api_key=`` for a server), its asserts recorded."""
    tree = ast.parse(block.source, filename=str(DOC))
    ast.increment_lineno(tree, block.line - 1)
    calls = [n.value for n in tree.body if isinstance(n, ast.Expr) and _is_configure(n)]
    assert len(calls) == 1, f'{block.id}: call fl.configure("<url>") once, at top level'
    call = calls[0]
    assert isinstance(call, ast.Call)
    call.args[0] = ast.copy_location(ast.Constant(url), call.args[0])
    if api_key is not None:
        call.keywords.append(ast.keyword("api_key", ast.Constant(api_key)))
    recorder = _AssertRecorder()
    tree = recorder.visit(tree)
    assert recorder.lines, f"{block.id}: an example must assert the behaviour it documents"
    tree.body.insert(0, ast.parse(f"{RECORDER} = set()").body[0])
    tree.body.append(ast.parse(f"print({REPORT_MARKER!r}, sorted({RECORDER}))").body[0])
    code = compile(ast.fix_missing_locations(tree), str(DOC), "exec")
    return marshal.dumps(code), frozenset(recorder.lines)


def test_the_page_has_its_examples() -> None:
    assert [block.id for block in BLOCKS] == [
        "tracing-01-two-lines",
        "tracing-02-runs",
        "tracing-03-threads-and-asyncio",
    ]


@pytest.fixture
def engine(fresh_head_url: DatabaseUrl, test_settings: Settings) -> Iterator[Engine]:
    made = create_sync_engine(test_settings, url=fresh_head_url)
    yield made
    made.dispose()


@pytest.mark.parametrize("face", ["embedded", "http"])
@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_example_runs(
    block: Block,
    face: str,
    fresh_head_url: DatabaseUrl,
    engine: Engine,
    test_settings: Settings,
    tmp_path: Path,
    fork_server: ForkServer,
) -> None:
    served: Served | None = None
    try:
        if face == "http":
            url = url_text(fresh_head_url)
            key: str | None = make_api_key(url, test_settings)
            served = Served(url, tmp_path / "serve.log")
            target = served.base
        else:
            key, target = None, url_text(fresh_head_url)
        code, assert_lines = prepare(block, target, key)
        payload = tmp_path / f"{block.id}.marshal"
        payload.write_bytes(code)
        result = fork_server.run(
            payload, cwd=tmp_path, env=_child_env(tmp_path), timeout=TIMEOUT_SECONDS
        )
    except ProgramTimeout as exc:
        pytest.fail(f"{block.id} ({face}) did not finish within {TIMEOUT_SECONDS}s: {exc}")
    finally:
        if served is not None:
            served.stop()
    described = (
        f"{block.id} ({face})\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    assert result.returncode == 0, described
    missed = sorted(assert_lines - _executed_asserts(result.stdout))
    assert not missed, f"asserts on lines {missed} never ran\n{described}"
    CHECKS[block.id](engine)


def _runs(session: Session, title: str) -> list[TaskRun]:
    stmt = select(TaskRun).join(Task, Task.id == TaskRun.task_id).where(Task.title == title)
    return list(session.scalars(stmt).all())


def _steps(session: Session, run: TaskRun) -> dict[str, list[AgentRun]]:
    found: dict[str, list[AgentRun]] = {}
    for step in session.scalars(select(AgentRun).where(AgentRun.run_id == run.id)):
        found.setdefault(step.agent_name, []).append(step)
    return found


def _all_finished(session: Session) -> None:
    assert all(
        r.status in (RunStatus.COMPLETED, RunStatus.FAILED)
        for r in session.scalars(select(TaskRun))
    )
    assert all(
        s.status in (AgentRunStatus.COMPLETED, AgentRunStatus.FAILED)
        for s in session.scalars(select(AgentRun))
    )


def _two_lines(engine: Engine) -> None:
    with Session(engine) as session:
        _all_finished(session)
        (run,) = _runs(session, "Build a todo app")
        assert run.status is RunStatus.COMPLETED
        assert (run.tokens_in, run.tokens_out, run.cost_usd) == (1020, 440, Decimal("0.014"))
        steps = _steps(session, run)
        assert len(steps["Architect"]) == 1
        (engineer,) = steps["Engineer"]
        assert engineer.details == {"input": "spec=a todo app with tags"}
        assert engineer.output_summary == "def todo_app():  # a todo app with tags"
        (artifact,) = session.scalars(select(Artifact).where(Artifact.run_id == run.id))
        assert artifact.name == "app.py"


def _runs_block(engine: Engine) -> None:
    with Session(engine) as session:
        _all_finished(session)
        (run,) = _runs(session, "Flaky planning")
        assert run.status is RunStatus.FAILED
        assert run.error_message == "TimeoutError: the model did not answer"
        assert run.error_details is not None
        assert "in plan" in run.error_details["traceback"]
        ((planner,),) = _steps(session, run).values()
        assert planner.status is AgentRunStatus.FAILED


def _threads_block(engine: Engine) -> None:
    with Session(engine) as session:
        _all_finished(session)
        (run,) = _runs(session, "Survey")
        steps = _steps(session, run)
        (lead,) = steps["Lead"]
        assert len(steps["Researcher"]) == len(steps["Summariser"]) == 2
        assert {s.parent_id for s in steps["Researcher"] + steps["Summariser"]} == {lead.id}
        assert run.tokens_in == 100


CHECKS = {
    "tracing-01-two-lines": _two_lines,
    "tracing-02-runs": _runs_block,
    "tracing-03-threads-and-asyncio": _threads_block,
}
