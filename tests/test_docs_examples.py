"""Every ```python block of docs/api.md and docs/schema.md runs, on SQLite and on PostgreSQL.

docs/schema.md's blocks are the seeds' own usage examples written in Flightlog
(its "How the seeds map to Flightlog" sections): a team moving from one of the
reference layouts reads them, so they must keep working.

Each block is a complete program ending in ``asyncio.run(main("<url>"))``. The
test points that call at a database of the dialect under test at head with no rows, records
which ``assert`` statements run, executes the program as a process of its own
(cwd and ``FLIGHTLOG_BLOB_DIR`` inside ``tmp_path``; forked from an interpreter
that has done nothing but import, see ``program_runner``) and requires a clean
exit with every assert of the example executed and held.

The program is compiled with docs/api.md as its file name and the block's own
line numbers, so a failing example's traceback points at the line of the doc.
"""

from __future__ import annotations

import ast
import marshal
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from flightlog.db.urls import DatabaseUrl
from program_runner import Finished, ForkServer, ProgramTimeout, program_environment

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
#: Each document with runnable examples, and how many it must have at least.
MIN_BLOCKS = {"api.md": 10, "schema.md": 5}
TIMEOUT_SECONDS = 300
#: Name of the set, in the generated program, that collects the line of every assert that ran.
RECORDER = "_flightlog_doc_asserts_"
REPORT_MARKER = "FLIGHTLOG-DOC-ASSERTS:"
_HEADING = re.compile(r"#{1,6}\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Block:
    """One ```python block of the document."""

    id: str
    doc: Path
    line: int
    source: str


@dataclass(frozen=True)
class Program:
    """A block made ready to run: its marshalled code and the doc lines of its asserts."""

    code: bytes
    assert_lines: frozenset[int]


def _slug(text: str, max_length: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0]
    return slug or "untitled"


def extract_blocks(markdown: str, doc: Path) -> list[Block]:
    """The ```python blocks, each named after the nearest heading above it.

    Fences are tracked line by line, so a ``# comment`` inside a code block is
    never taken for a heading.
    """
    blocks: list[Block] = []
    heading = "preamble"
    fence: str | None = None
    body: list[str] = []
    start = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if fence is None:
            if line.startswith("```"):
                fence, body, start = line[3:].strip(), [], number + 1
            elif match := _HEADING.match(line):
                heading = match.group(1)
        elif line.strip() == "```":
            if fence == "python":
                block_id = f"{doc.stem}-{len(blocks) + 1:02d}-{_slug(heading)}"
                source = "\n".join(body) + "\n"
                blocks.append(Block(id=block_id, doc=doc, line=start, source=source))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        raise ValueError(f"unclosed ``` fence opened at line {start - 1} of {doc.name}")
    return blocks


def _load_blocks() -> list[Block]:
    blocks: list[Block] = []
    for name in MIN_BLOCKS:
        doc = DOCS_DIR / name
        if doc.exists():
            blocks.extend(extract_blocks(doc.read_text(encoding="utf-8"), doc))
    return blocks


BLOCKS = _load_blocks()


class _AssertRecorder(ast.NodeTransformer):
    """Put ``RECORDER.add(<line>)`` in front of every assert statement."""

    def __init__(self) -> None:
        self.lines: set[int] = set()

    def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
        self.lines.add(node.lineno)
        record = ast.parse(f"{RECORDER}.add({node.lineno})").body[0]
        return [ast.copy_location(record, node), node]


def _main_call(statement: ast.stmt, *, is_async: bool) -> ast.Call | None:
    """``main(<string literal>)`` in ``asyncio.run(main(…))`` (async main) or alone (sync main)."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return None
    inner = statement.value
    if is_async:
        run = statement.value
        if ast.unparse(run.func) != "asyncio.run" or len(run.args) != 1 or run.keywords:
            return None
        if not isinstance(run.args[0], ast.Call):
            return None
        inner = run.args[0]
    found = (
        isinstance(inner, ast.Call)
        and ast.unparse(inner.func) == "main"
        and len(inner.args) == 1
        and not inner.keywords
        and isinstance(inner.args[0], ast.Constant)
        and isinstance(inner.args[0].value, str)
    )
    return inner if found else None


def prepare(block: Block, url: str) -> Program:
    """Check the block's shape, point it at ``url`` and instrument its asserts."""
    tree = ast.parse(block.source, filename=str(block.doc))
    ast.increment_lineno(tree, block.line - 1)
    mains = [
        node
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name == "main"
    ]
    assert len(mains) == 1, f"{block.id}: define exactly one `[async] def main(url: str) -> None`"
    assert [a.arg for a in mains[0].args.args] == ["url"], f"{block.id}: main takes `url`"
    is_async = isinstance(mains[0], ast.AsyncFunctionDef)
    ending = (
        f'{block.id}: the block must end with asyncio.run(main("<database url>"))'
        if is_async
        else f'{block.id}: the block must end with main("<database url>")'
    )
    main_call = _main_call(tree.body[-1], is_async=is_async)
    assert main_call is not None, ending
    main_call.args[0] = ast.copy_location(ast.Constant(url), main_call.args[0])

    recorder = _AssertRecorder()
    tree = recorder.visit(tree)
    assert recorder.lines, f"{block.id}: an example must assert the behaviour it documents"

    position = 0
    while (
        position < len(tree.body)
        and isinstance(tree.body[position], ast.ImportFrom)
        and getattr(tree.body[position], "module", None) == "__future__"
    ):
        position += 1
    tree.body.insert(position, ast.parse(f"{RECORDER} = set()").body[0])
    tree.body.append(ast.parse(f"print({REPORT_MARKER!r}, sorted({RECORDER}))").body[0])
    code = compile(ast.fix_missing_locations(tree), str(block.doc), "exec")
    return Program(code=marshal.dumps(code), assert_lines=frozenset(recorder.lines))


def _executed_asserts(stdout: str) -> set[int]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(REPORT_MARKER):
            lines = ast.literal_eval(line[len(REPORT_MARKER) :].strip())
            return {int(n) for n in lines}
    return set()


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = program_environment()
    env["FLIGHTLOG_BLOB_DIR"] = str(tmp_path / "blobs")
    return env


def _describe(block: Block, result: Finished) -> str:
    return (
        f"{block.id} (docs/{block.doc.name} line {block.line}) exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


@pytest.mark.parametrize("name", sorted(MIN_BLOCKS))
def test_docs_have_enough_examples(name: str) -> None:
    doc = DOCS_DIR / name
    assert doc.exists(), f"{doc} is missing"
    count = sum(1 for block in BLOCKS if block.doc == doc)
    assert count >= MIN_BLOCKS[name], f"{name} has {count} python blocks"
    assert len({block.id for block in BLOCKS}) == len(BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_example_is_a_complete_program(block: Block) -> None:
    program = prepare(block, "sqlite:///./example.db")
    assert program.code
    assert program.assert_lines


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_example_runs(
    block: Block, fresh_head_url: DatabaseUrl, tmp_path: Path, fork_server: ForkServer
) -> None:
    # A database at head with no rows: what the example's first open_store makes of an
    # empty one, without migrating it again for each of the examples.
    program = prepare(block, fresh_head_url.url.render_as_string(hide_password=False))
    payload = tmp_path / f"{block.id}.marshal"
    payload.write_bytes(program.code)
    try:
        result = fork_server.run(
            payload, cwd=tmp_path, env=_child_env(tmp_path), timeout=TIMEOUT_SECONDS
        )
    except ProgramTimeout as exc:
        pytest.fail(f"{block.id} did not finish within {TIMEOUT_SECONDS}s: {exc}")
    assert result.returncode == 0, _describe(block, result)
    missed = sorted(program.assert_lines - _executed_asserts(result.stdout))
    assert not missed, f"asserts on lines {missed} of {block.id} never ran\n" + _describe(
        block, result
    )
