"""Models import cleanly in a fresh interpreter: no circular imports, no import-time I/O."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    ["flightlog.models", "flightlog.models.event", "flightlog.models.run", "flightlog.cli"],
)
def test_module_imports_in_fresh_interpreter(module: str) -> None:
    code = (
        f"import {module}, sys\n"
        "from sqlalchemy.orm import configure_mappers\n"
        "import flightlog.models\n"
        "configure_mappers()\n"
        "print(len(flightlog.models.Base.metadata.tables))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # 20, sessions, otlp_spans, model_prices (0006), local_sign_ins (0008)
    assert int(result.stdout.strip()) == 24


def test_import_creates_no_engine_and_reads_no_settings() -> None:
    code = (
        "import gc, flightlog, flightlog.models, flightlog.cli\n"
        "from sqlalchemy.engine import Engine\n"
        "from flightlog.settings import Settings\n"
        "objs = gc.get_objects()\n"
        "assert not [o for o in objs if isinstance(o, Engine)], 'engine at import'\n"
        "assert not [o for o in objs if isinstance(o, Settings)], 'settings at import'\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
