"""mypy sees the services' own parameters and return types through the Store's bindings.

The example file is type-checked, not run: ``reveal_type`` lines must show
the real signature of the service minus its session and customer, and the
three calls that break it must each be an error.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

EXAMPLE = Path(__file__).parent / "typing_examples" / "store_faces.py"


def test_the_store_shows_the_service_signatures_to_mypy() -> None:
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(EXAMPLE)]
    )
    lines = [line for line in out.splitlines() if f"{EXAMPLE.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 4, out + err
    get, create, task, page = notes
    assert (
        get
        == '"def (task_id: uuid.UUID) -> typing.Coroutine[Any, Any, flightlog.models.task.Task]"'
    )
    assert "(*, title: str | None =, input_prompt: str | None =," in create
    assert "max_rounds: int | flightlog.services._common.Unset =" in create
    assert create.endswith('typing.Coroutine[Any, Any, flightlog.models.task.Task]"')
    assert task == '"flightlog.models.task.Task"'
    assert page == '"flightlog.services.tasks.TaskPage"'
    assert len(errors) == 3, "\n".join(errors)
    assert 'Argument "max_rounds"' in errors[0]
    assert 'Unexpected keyword argument "status"' in errors[1]
    assert "Too few arguments" in errors[2]
