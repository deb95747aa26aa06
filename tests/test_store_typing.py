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


def test_the_review_and_report_facades_show_their_services_to_mypy() -> None:
    example = EXAMPLE.with_name("review_faces.py")
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(example)]
    )
    lines = [line for line in out.splitlines() if f"{example.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 5, out + err
    transition, approve, progress, search, overview = notes
    assert transition.startswith(
        '"def (pull_request_id: uuid.UUID, status: flightlog.enums.PullRequestStatus | str, *, '
        "actor: str | None =, comment: str | None =) -> "
    )
    assert transition.endswith('flightlog.models.pull_request.PullRequest]"')
    assert approve.startswith(
        '"def (recommendation_id: uuid.UUID, *, decided_by: str, comment: str | None =)'
    )
    assert "(optimization_id: uuid.UUID, progress: int, *, actor: str | None =)" in progress
    assert search == (
        '"def (query: str, limit: int =, *, offset: int =) -> '
        'typing.Coroutine[Any, Any, list[tuple[flightlog.models.task.Task, float]]]"'
    )
    assert overview.startswith('"def (*, top: int =)')
    assert len(errors) == 2, "\n".join(errors)
    assert 'Unexpected keyword argument "status"' in errors[0]
    assert 'expected "int"' in errors[1]


def test_the_project_and_template_facades_show_their_services_to_mypy() -> None:
    example = EXAMPLE.with_name("project_faces.py")
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(example)]
    )
    lines = [line for line in out.splitlines() if f"{example.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 4, out + err
    update, iteration, from_template, approve = notes
    assert update.startswith('"def (project_id: uuid.UUID, *, name: str | flightlog.services.')
    assert "owner: str | flightlog.services._common.Unset | None =)" in update
    assert iteration == (
        '"def (project_id: uuid.UUID, iteration: int) -> '
        'typing.Coroutine[Any, Any, flightlog.models.project.ProjectContext]"'
    )
    assert "(template_id: uuid.UUID, *, name: str, variables: typing.Mapping" in from_template
    assert from_template.endswith('flightlog.services.templates.ProjectFromTemplate]"')
    assert approve.startswith(
        '"def (modification_id: uuid.UUID, *, decided_by: str, comment: str | None =)'
    )
    assert len(errors) == 3, "\n".join(errors)
    assert 'Unexpected keyword argument "created_at"' in errors[0]
    assert 'Argument "setup_time_minutes"' in errors[1]
    assert 'Missing named argument "error_message"' in errors[2]


def test_the_run_facades_show_their_services_to_mypy() -> None:
    """What the Store passes itself (the blob policy, the payload limit) is not a parameter."""
    example = EXAMPLE.with_name("run_faces.py")
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(example)]
    )
    lines = [line for line in out.splitlines() if f"{example.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 5, out + err
    decide, put, append, run, lease = notes
    assert decide.startswith(
        '"def (run_id: uuid.UUID, *, approve: bool, decided_by: str, comment: str | None =)'
    )
    assert put.startswith(
        '"def (task_id: uuid.UUID, name: str, content: bytes | str, *, content_type:'
    )
    assert "policy" not in put
    assert append == (
        '"def (event: flightlog.services.events.NewEvent | dict[str, Any]) -> '
        'typing.Coroutine[Any, Any, flightlog.models.event.Event]"'
    )
    assert run == '"flightlog.models.run.TaskRun"'
    assert lease == '"datetime.datetime"'
    assert len(errors) == 3, "\n".join(errors)
    assert 'Argument "cpu_time_ms"' in errors[0]
    assert 'Unexpected keyword argument "policy"' in errors[1]
    assert 'Missing named argument "error_message"' in errors[2]


def test_the_tenancy_facades_show_their_services_to_mypy() -> None:
    """Operator acts (their own unit) and settings defaults keep the services' types."""
    example = EXAMPLE.with_name("tenancy_faces.py")
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(example)]
    )
    lines = [line for line in out.splitlines() if f"{example.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 4, out + err
    set_status, create_key, list_agents, health = notes
    assert set_status == (
        '"def (status: flightlog.enums.CustomerStatus | str, *, actor: str | None =, '
        'reason: str | None =) -> typing.Coroutine[Any, Any, flightlog.models.tenancy.Customer]"'
    )
    assert create_key.startswith('"def (name: str, *, scopes: typing.Iterable[str] =,')
    assert create_key.endswith('flightlog.services.api_keys.CreatedApiKey]"')
    assert "degraded_after: float | datetime.timedelta =" in list_agents
    assert list_agents.endswith('list[flightlog.models.agent.Agent]]"')
    assert health == '"flightlog.enums.AgentStatus"'
    assert len(errors) == 3, "\n".join(errors)
    assert 'Unexpected keyword argument "email"' in errors[0]
    assert 'Argument "reason"' in errors[1]
    assert 'Argument "degraded_after"' in errors[2]


def test_the_sync_store_shows_the_same_signatures_without_coroutines() -> None:
    example = EXAMPLE.with_name("sync_faces.py")
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(example)]
    )
    lines = [line for line in out.splitlines() if f"{example.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(notes) == 4, out + err
    get, task, append_batch, create_customer = notes
    assert get == '"def (task_id: uuid.UUID) -> flightlog.models.task.Task"'
    assert task == '"flightlog.models.task.Task"'
    assert append_batch == (
        '"def (events: typing.Iterable[flightlog.services.events.NewEvent | dict[str, Any]], '
        '*, chunk_size: int =) -> list[int]"'
    )
    assert create_customer.startswith('"def (*, name: str, email: str,')
    assert create_customer.endswith('-> flightlog.models.tenancy.Customer"')
    assert len(errors) == 3, "\n".join(errors)
    assert 'Argument "max_rounds"' in errors[0]
    assert 'Unexpected keyword argument "status"' in errors[1]
    assert "Too few arguments" in errors[2]


def test_one_scenario_type_checks_against_every_face() -> None:
    """The four-face scenario is typed against ``Flightlog`` / ``AsyncFlightlog``, unions of
    the Stores and the clients: mypy checks every call against each face."""
    scenario = Path(__file__).parent / "test_four_faces.py"
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(scenario)]
    )
    assert [line for line in out.splitlines() if f"{scenario.name}:" in line] == [], out + err
