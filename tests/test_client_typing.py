"""mypy sees the services' parameters and the API's models through both clients.

The example file is type-checked, not run: the same declaration is a
coroutine function on ``AsyncClient`` and a plain function on ``Client``,
with the service's parameters, and the four calls that break it are errors.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

EXAMPLE = Path(__file__).parent / "typing_examples" / "client_faces.py"
_TASK_OUT = "flightlog.schemas.tasks.TaskOut"


def test_both_clients_show_the_service_signatures_and_the_response_models() -> None:
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(EXAMPLE)]
    )
    lines = [line for line in out.splitlines() if f"{EXAMPLE.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 9, out + err
    get, create, page, stream, lease, sync_get, task, append_batch, overview = notes
    assert get == f'"def (task_id: uuid.UUID) -> typing.Coroutine[Any, Any, {_TASK_OUT}]"'
    assert "(*, title: str | None =, input_prompt: str | None =," in create
    assert "max_rounds: int | flightlog.services._common.Unset =" in create
    assert create.endswith(f'typing.Coroutine[Any, Any, {_TASK_OUT}]"')
    assert page == '"flightlog.schemas.tasks.TaskPageOut"'
    assert "reconnect: bool =" in stream
    assert stream.endswith('typing.AsyncGenerator[flightlog.schemas.events.EventOut, None]"')
    assert lease == '"datetime.datetime"'
    assert sync_get == f'"def (task_id: uuid.UUID) -> {_TASK_OUT}"'
    assert task == f'"{_TASK_OUT}"'
    assert append_batch == (
        '"def (events: typing.Iterable[flightlog.services.events.NewEvent | dict[str, Any]]) '
        '-> list[int]"'
    )
    assert overview == '"flightlog.services.overview.Overview"'
    assert len(errors) == 4, "\n".join(errors)
    assert 'Argument "max_rounds"' in errors[0]
    assert 'Argument "status"' in errors[1]
    assert 'Unexpected keyword argument "status"' in errors[2]
    assert 'Missing named argument "error_message"' in errors[3]
