"""``import flightlog`` is cheap, and every public name still resolves (issue 13).

Each check runs in a fresh interpreter: in this one, other tests have long
imported everything. No timing here (``benchmarks/import_time.py`` measures
it); these tests pin what is loaded, which is what the time follows from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flightlog.db.urls import DatabaseUrl
from flightlog.migrations.runner import script_directory, shipped_head

#: Heavy dependencies that only the server, the CLI, the HTTP clients, the
#: OTLP receivers or migrations need, never ``import flightlog`` itself.
HEAVY = ("alembic", "fastapi", "starlette", "httpx", "opentelemetry", "typer", "rich")


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout (failing on any error)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _loaded(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """Which of ``prefixes`` (packages) are in ``sys.modules`` after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"prefixes = {list(prefixes)!r}\n"
        "print(json.dumps(sorted(p for p in prefixes "
        "if any(m == p or m.startswith(p + '.') for m in sys.modules))))\n"
    )
    loaded: list[str] = json.loads(_run(probe).strip().splitlines()[-1])
    return loaded


def test_import_flightlog_loads_no_heavy_dependency() -> None:
    assert _loaded("import flightlog", HEAVY) == []


def test_import_flightlog_loads_no_orm_services_or_clients() -> None:
    loaded = _loaded(
        "import flightlog",
        (
            "sqlalchemy",
            "pydantic",
            "flightlog.models",
            "flightlog.services",
            "flightlog.store",
            "flightlog.client",
            "flightlog.otlp",
            "flightlog.migrations",
        ),
    )
    assert loaded == []


def test_enums_and_errors_are_there_without_a_lazy_step() -> None:
    out = _run(
        "import sys, flightlog\n"
        "from flightlog import TaskStatus, NotFound\n"
        "assert TaskStatus('succeeded') is TaskStatus.COMPLETED\n"
        "assert issubclass(NotFound, flightlog.FlightlogError)\n"
        "assert 'flightlog.store' not in sys.modules\n"
        "print('ok')\n"
    )
    assert out.strip() == "ok"


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    out = _run(
        "import flightlog\n"
        "missing = [n for n in flightlog.__all__ if getattr(flightlog, n, None) is None]\n"
        "assert not missing, missing\n"
        "from flightlog import open_store, open_store_sync, Store, SyncStore, Client, AsyncClient\n"
        "from flightlog.store import Store as S\n"
        "from flightlog.client import Client as C\n"
        "assert Store is S and Client is C\n"
        "print(len(flightlog.__all__))\n"
    )
    assert int(out.strip()) >= 26


def test_star_import_gives_every_public_name() -> None:
    out = _run(
        "import flightlog\n"
        "namespace: dict[str, object] = {}\n"
        "exec('from flightlog import *', namespace)\n"
        "print(sorted(set(flightlog.__all__) - set(namespace)))\n"
    )
    assert out.strip() == "[]"


def test_dir_lists_every_public_name_before_any_is_used() -> None:
    out = _run(
        "import flightlog, sys\n"
        "names = dir(flightlog)\n"
        "assert 'flightlog.store' not in sys.modules, 'dir() imported the store'\n"
        "print(sorted(set(flightlog.__all__) - set(names)))\n"
    )
    assert out.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    import flightlog

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = flightlog.no_such_name  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from flightlog import no_such_name", {})


def test_a_failing_import_behind_a_name_is_reported_not_hidden(tmp_path: Path) -> None:
    """An AttributeError inside the imported module must not read as "no such name"."""
    (tmp_path / "broken_behind_a_name.py").write_text("import os\nos.no_such_function()\n")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "import flightlog\n"
        "flightlog._LAZY['Broken'] = 'broken_behind_a_name'\n"
        "try:\n"
        "    from flightlog import Broken\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = _run(code)
    assert "flightlog.Broken could not be imported" in out
    assert "no_such_function" in out


def test_the_store_loads_no_server_client_or_migration_tool() -> None:
    """What a real embedded user pays: ``from flightlog import open_store``."""
    loaded = _loaded(
        "from flightlog import open_store", (*HEAVY, "flightlog.api", "flightlog.client")
    )
    assert loaded == []


def test_the_cli_help_loads_no_server_client_or_migration_tool() -> None:
    loaded = _loaded(
        "import flightlog.cli",
        ("alembic", "fastapi", "starlette", "httpx", "opentelemetry", "uvicorn", "flightlog.api"),
    )
    assert loaded == []


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert shipped_head() == script_directory().get_current_head()


def test_opening_a_database_at_head_imports_no_alembic(db_url: DatabaseUrl) -> None:
    """Every ``open_store`` asks for the head; at head, Alembic is not needed to answer."""
    url = db_url.url.render_as_string(hide_password=False)
    code = (
        "import asyncio\n"
        "from flightlog import open_store, open_store_sync\n"
        "async def main() -> None:\n"
        f"    async with open_store({url!r}) as store:\n"
        "        await store.tasks.list()\n"
        "asyncio.run(main())\n"
        f"with open_store_sync({url!r}) as store:\n"
        "    store.tasks.list()\n"
    )
    assert _loaded(code, ("alembic",)) == []
