"""docs/api.md documents every Store operation with the signature its service declares.

Issue 11 asks that the copies of an operation cannot drift from its one
declaration (docs/decisions/0007): the request bodies are checked in
test_operation_drift.py, the synchronous Store in test_sync_store.py; this
checks the page people read. Every ``Operation`` bound on a facade of the
Store must appear in the first cell of a table row of docs/api.md, written
as ``store.<facade>.<method>(…)`` (or, after one such call in the same cell,
as the short continuation ``<method>(…)``, e.g. ``… / dependencies(task_id)``),
and what the row says must be what ``inspect.signature`` of the service says
once the Store's leading parameters are stripped:

- the parameter names, in order, all of them (no ``…``);
- which are keyword-only (after ``*``);
- a default where the row gives one: ``name=None``, ``name=50``,
  ``name=False``, ``name="main"``, ``status=COMPLETED``; a bare ``name=``
  means "has a default, described in the text", and a name with no ``=`` is
  a required parameter. Annotations (``content: bytes``) are allowed and not
  checked.

So adding a parameter to a service without documenting it fails here, with
the signature to write.
"""

from __future__ import annotations

import ast
import enum
import inspect
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

from flightlog import Store
from flightlog.services._common import Unset
from flightlog.settings import Settings
from flightlog.store.binding import Facade, Operation, reads

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
#: The Store's facades (test_sync_store.py counts them too).
FACADES = 22
#: Fewer rows than this means the parser stopped seeing the tables.
MIN_ROWS = 90

_CODE_SPAN = re.compile(r"`([^`]+)`")
_CALL = re.compile(r"(?:store\.(?P<facade>\w+)\.)?(?P<method>\w+)\((?P<params>.*)\)", re.DOTALL)
_PARAM = re.compile(r"(?P<name>\w+)\s*(?::[^=]*)?(?:=\s*(?P<default>.*))?", re.DOTALL)
_ELLIPSIS = ("…", "...")

POSITIONAL_ONLY = "positional-only"
POSITIONAL = "positional"
KEYWORD = "keyword-only"


@dataclass(frozen=True)
class DocParam:
    """One parameter as a row writes it."""

    name: str
    kind: str
    #: None: no default (required); "": a bare ``name=``; else the default's text.
    default: str | None


@dataclass(frozen=True)
class DocCall:
    """One ``store.<facade>.<method>(…)`` (or continuation) in a row's first cell."""

    facade: str
    method: str
    params: tuple[DocParam, ...]
    abbreviated: bool
    text: str
    #: Written as ``method(…)`` after a full call on the same facade.
    short: bool
    line: int

    @property
    def operation(self) -> str:
        return f"{self.facade}.{self.method}"


@dataclass(frozen=True)
class Declared:
    """An operation as its service declares it, without what the Store supplies."""

    signature: inspect.Signature
    service: str


def _split_top_level(text: str) -> list[str]:
    """``a, b=(1, 2), c="x, y"`` -> three parts: commas inside brackets or quotes stay."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    last = "".join(current).strip()
    return [*parts, last] if last or parts else parts


def _parse_params(text: str) -> tuple[tuple[DocParam, ...], bool]:
    params: list[DocParam] = []
    kind, abbreviated = POSITIONAL, False
    for part in _split_top_level(text):
        if part in _ELLIPSIS:
            abbreviated = True
        elif part == "*":
            kind = KEYWORD
        elif part == "/":
            params = [DocParam(p.name, POSITIONAL_ONLY, p.default) for p in params]
        elif part.startswith("**"):
            params.append(DocParam(part[2:], "var-keyword", None))
        elif part.startswith("*"):
            params.append(DocParam(part[1:], "var-positional", None))
            kind = KEYWORD
        elif match := _PARAM.fullmatch(part):
            default = match["default"]
            params.append(DocParam(match["name"], kind, None if default is None else default))
        else:
            raise AssertionError(f"cannot read the parameter {part!r} in ({text})")
    return tuple(params), abbreviated


def _first_cell_spans(row: str) -> list[str]:
    """The code spans of a table row's first cell (a ``|`` inside backticks stays in it)."""
    spans, position = [], 1
    while position < len(row):
        if row[position] == "|":
            break
        if row[position] == "`":
            end = row.index("`", position + 1)
            spans.append(row[position + 1 : end])
            position = end + 1
        else:
            position += 1
    return spans


def parse_rows(text: str) -> list[list[DocCall]]:
    """Every table row whose first cell documents at least one Store call."""
    rows: list[list[DocCall]] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_fence or not line.startswith("|"):
            continue
        calls: list[DocCall] = []
        facade = ""
        for span in _first_cell_spans(line):
            match = _CALL.fullmatch(span.strip())
            if match is None or not (match["facade"] or facade):
                continue
            short = match["facade"] is None
            facade = match["facade"] or facade
            params, abbreviated = _parse_params(match["params"])
            calls.append(DocCall(facade, match["method"], params, abbreviated, span, short, number))
        if calls:
            rows.append(calls)
    return rows


def _default_matches(written: str, actual: object) -> bool:
    if written == "":
        return True  # a bare ``name=``: has a default, see the text
    if isinstance(actual, Unset):
        return False  # "left out: unchanged" (or the model's default) is for the text to say
    if isinstance(actual, enum.Enum):
        names = {actual.name, f"{type(actual).__name__}.{actual.name}"}
        return written in names or _literal(written) == actual.value
    value = _literal(written)
    if isinstance(actual, bool) or isinstance(value, bool):
        return type(value) is type(actual) and value == actual
    if isinstance(actual, int | float) and isinstance(value, int | float):
        return value == actual
    if actual is None or not isinstance(actual, str | tuple):
        return value is None and actual is None
    return type(value) is type(actual) and value == actual


def _literal(written: str) -> object:
    try:
        return ast.literal_eval(written)
    except (ValueError, SyntaxError):
        return NotImplemented  # a name such as UNSET: matches no literal default


def _render_default(value: object) -> str:
    """How the expected signature writes a default (bare ``=`` when the text explains it)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, Unset):
        return ""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple) and not value:
        return "()"
    return ""


def expected_text(call: DocCall, declared: Declared) -> str:
    """The first-cell text the row should hold for ``call``'s operation."""
    parts: list[str] = []
    keyword_marked = False
    parameters = list(declared.signature.parameters.values())
    for position, parameter in enumerate(parameters):
        if parameter.kind is parameter.VAR_POSITIONAL:
            parts.append(f"*{parameter.name}")
            keyword_marked = True
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            parts.append(f"**{parameter.name}")
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_marked:
            parts.append("*")
            keyword_marked = True
        if parameter.default is parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={_render_default(parameter.default)}")
        following = parameters[position + 1 :]
        if parameter.kind is parameter.POSITIONAL_ONLY and (
            not following or following[0].kind is not parameter.POSITIONAL_ONLY
        ):
            parts.append("/")
    prefix = "" if call.short else f"store.{call.facade}."
    return f"{prefix}{call.method}({', '.join(parts)})"


def _kind(parameter: inspect.Parameter) -> str:
    if parameter.kind is parameter.POSITIONAL_ONLY:
        return POSITIONAL_ONLY
    if parameter.kind is parameter.KEYWORD_ONLY:
        return KEYWORD
    if parameter.kind is parameter.VAR_POSITIONAL:
        return "var-positional"
    if parameter.kind is parameter.VAR_KEYWORD:
        return "var-keyword"
    return POSITIONAL


def _differences(call: DocCall, declared: Declared) -> list[str]:
    actual = list(declared.signature.parameters.values())
    written = {p.name: p for p in call.params}
    found: list[str] = []
    if call.abbreviated:
        found.append("it abbreviates with … instead of naming every parameter")
    missing = [p.name for p in actual if p.name not in written]
    extra = [name for name in written if name not in declared.signature.parameters]
    if missing:
        found.append(f"it leaves out {', '.join(missing)}")
    if extra:
        found.append(f"the service has no {', '.join(extra)}")
    common = [p.name for p in actual if p.name in written]
    if not missing and not extra and [p.name for p in call.params] != common:
        found.append("the order differs")
    for parameter in actual:
        doc = written.get(parameter.name)
        if doc is None:
            continue
        kind = _kind(parameter)
        if doc.kind != kind:
            found.append(f"{parameter.name} is {kind}, the row makes it {doc.kind}")
        if parameter.default is parameter.empty:
            if doc.default is not None:
                found.append(f"{parameter.name} is required, the row gives it a default")
        elif doc.default is None:
            found.append(f"{parameter.name} has a default, the row makes it required")
        elif not _default_matches(doc.default, parameter.default):
            found.append(f"{parameter.name} defaults to {parameter.default!r}, not {doc.default}")
    return found


def drift(text: str, operations: Mapping[str, Declared]) -> list[str]:
    """What to fix in ``text`` (docs/api.md) so its rows document ``operations`` exactly."""
    problems: list[str] = []
    documented: set[str] = set()
    for call in (call for row in parse_rows(text) for call in row):
        declared = operations.get(call.operation)
        if declared is None:
            problems.append(
                f"docs/api.md line {call.line}: `{call.text}` documents store.{call.operation}, "
                "which the Store does not have: remove it or correct the name"
            )
            continue
        documented.add(call.operation)
        found = _differences(call, declared)
        if found:
            problems.append(
                f"docs/api.md line {call.line}: `{call.text}` drifted from "
                f"{declared.service} ({'; '.join(found)}): write "
                f"`{expected_text(call, declared)}`"
            )
    for operation in sorted(operations.keys() - documented):
        facade, method = operation.split(".")
        call = DocCall(facade, method, (), False, "", False, 0)
        problems.append(
            f"store.{operation} ({operations[operation].service}) is in no table of "
            f"docs/api.md: add a row whose first cell is "
            f"`{expected_text(call, operations[operation])}`"
        )
    return problems


def declared(operation: Operation[..., object]) -> Declared:
    signature = inspect.signature(operation.service)
    parameters = list(signature.parameters.values())[operation.stripped :]
    service = f"{operation.service.__module__}.{operation.service.__qualname__}"
    return Declared(signature.replace(parameters=parameters), service)


def _store_operations(store: Store) -> Iterator[tuple[str, Operation[..., object]]]:
    """Every operation bound on a facade of ``store``, as ``facade.method``."""
    for name, facade in vars(store).items():
        if not isinstance(facade, Facade):
            continue
        for attribute, value in vars(type(facade)).items():
            if isinstance(value, Operation):
                yield f"{name}.{attribute}", value


@pytest.fixture(scope="module")
def operations(
    test_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Declared]:
    """Read off a Store that never connects: only its facades' declarations are used."""
    where = tmp_path_factory.mktemp("docs-signatures")
    settings = test_settings.model_copy(update={"blob_dir": where / "blobs"})
    engine = create_async_engine(f"sqlite+aiosqlite:///{where / 'never-opened.db'}")
    store = Store(engine, settings, uuid.uuid4())
    assert sum(isinstance(v, Facade) for v in vars(store).values()) == FACADES
    return {name: declared(operation) for name, operation in _store_operations(store)}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_store_operation_is_documented_with_its_signature(
    doc: str, operations: dict[str, Declared]
) -> None:
    rows = parse_rows(doc)
    calls = [call for row in rows for call in row]
    assert len(operations) > 120
    assert len(rows) >= MIN_ROWS, f"only {len(rows)} rows of Store calls found in docs/api.md"
    assert len({call.facade for call in calls}) == FACADES
    problems = drift(doc, operations)
    assert not problems, f"{len(problems)} to fix in docs/api.md:\n" + "\n".join(problems)


def test_the_parser_reads_full_calls_continuations_and_markers() -> None:
    text = (
        "| call | returns |\n|---|---|\n"
        "| `store.tasks.remove_dependency(task_id, depends_on)` / `dependencies(task_id)` "
        "| `None` / `list[Task]` |\n"
        '| `store.artifacts.put(task_id, name, content: bytes, *, content_type="a, b", '
        "run_id=None, metadata=)` | `Artifact` |\n"
        "| `store.search.tasks(query, /, limit=20)` | `list[tuple[Task, float]]` |\n"
        "| `store.tasks` | `flightlog.services.tasks` | `create_task` |\n"
        "```python\n| `store.tasks.get(task_id)` |\n```\n"
    )
    [dependencies, [put], [search]] = parse_rows(text)
    assert [(c.operation, c.short) for c in dependencies] == [
        ("tasks.remove_dependency", False),
        ("tasks.dependencies", True),
    ]
    assert [p.name for p in dependencies[1].params] == ["task_id"]
    assert put.params == (
        DocParam("task_id", POSITIONAL, None),
        DocParam("name", POSITIONAL, None),
        DocParam("content", POSITIONAL, None),
        DocParam("content_type", KEYWORD, '"a, b"'),
        DocParam("run_id", KEYWORD, "None"),
        DocParam("metadata", KEYWORD, ""),
    )
    assert search.params == (
        DocParam("query", POSITIONAL_ONLY, None),
        DocParam("limit", POSITIONAL, "20"),
    )


def get_task(
    session: Session, customer_id: uuid.UUID, /, task_id: uuid.UUID, *, deleted: bool = False
) -> None:
    """A ``get_task`` that grew a parameter the page does not know about."""


def test_a_parameter_added_to_a_service_fails_with_the_row_to_write(
    doc: str, operations: dict[str, Declared]
) -> None:
    grown = {**operations, "tasks.get": declared(reads(get_task))}
    [problem] = drift(doc, grown)
    assert "`store.tasks.get(task_id)` drifted from" in problem
    assert "it leaves out deleted" in problem
    assert problem.endswith("write `store.tasks.get(task_id, *, deleted=False)`")


@pytest.mark.parametrize(
    ("written", "doctored", "expected"),
    [
        pytest.param(
            "`store.tasks.ready(limit=100)`",
            "`store.tasks.ready(limit=10)`",
            "limit defaults to 100, not 10",
            id="default",
        ),
        pytest.param(
            "`store.runs.begin(run_id, *, await_plan_approval=False, actor=None)`",
            "`store.runs.begin(run_id, await_plan_approval=False, actor=None)`",
            "await_plan_approval is keyword-only, the row makes it positional",
            id="keyword-only",
        ),
        pytest.param(
            "`dependencies(task_id)`",
            "`dependencies(task_id, limit=5)`",
            "the service has no limit): write `dependencies(task_id)`",
            id="continuation",
        ),
        pytest.param(
            "`store.metrics.series(name, *, task_id=None, run_id=None,",
            "`store.metrics.series(name, *, run_id=None, task_id=None,",
            "the order differs",
            id="order",
        ),
        pytest.param(
            "`store.claims.release(claimed, *, reason=None)`",
            "`store.claims.release(claimed, *, …)`",
            "abbreviates with …",
            id="ellipsis",
        ),
        pytest.param(
            "`store.tasks.subtasks(task_id)`",
            "`store.tasks.subtask(task_id)`",
            "store.tasks.subtasks (flightlog.services.tasks.subtasks) is in no table",
            id="undocumented",
        ),
    ],
)
def test_a_drifted_row_is_reported(
    doc: str, operations: dict[str, Declared], written: str, doctored: str, expected: str
) -> None:
    assert doc.count(written) == 1, f"the self-test's row {written} changed in docs/api.md"
    problems = drift(doc.replace(written, doctored), operations)
    assert any(expected in problem for problem in problems), problems
