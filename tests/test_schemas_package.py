"""The wire models depend on the services, never on a face that uses them.

``flightlog.api`` and ``flightlog.client`` both import ``flightlog.schemas``;
an import the other way would make the client carry the server (FastAPI and
all), or make a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import flightlog.schemas

PACKAGE = Path(flightlog.schemas.__file__).parent
#: What the wire models may not import: the faces built on them, and the web framework.
FORBIDDEN = ("flightlog.api", "flightlog.client", "flightlog.store", "flightlog.web", "fastapi")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def test_the_schemas_package_imports_no_face_of_flightlog() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in sorted(PACKAGE.glob("*.py"))
        for name in _imports(path)
        if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN)
    }
    assert not offending, sorted(offending)
