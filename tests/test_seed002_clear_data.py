"""Seed 002's "clear data function for cleanup": ``flightlog clear-data`` removes exactly what
``flightlog seed`` and ``flightlog demo`` wrote, and a real customer created alongside stays."""

from __future__ import annotations

from sqlalchemy import func, select

from cli_runner import CliCase
from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Customer, Event, Task
from flightlog.ops.seeding import SeedSize, seed_database
from flightlog.settings import Settings
from flightlog.store import open_store_sync

TINY = SeedSize("tiny", tasks=3, runs_per_task=2, events_per_run=4, metrics_per_run=2)


def _emails_and_tasks(url: DatabaseUrl, settings: Settings) -> tuple[set[str], int, int]:
    engine = create_sync_engine(settings, url=url)
    try:
        with sync_session_factory(engine)() as session:
            emails = set(session.scalars(select(Customer.email)).all())
            tasks = int(session.scalar(select(func.count()).select_from(Task)) or 0)
            events = int(
                session.scalar(
                    select(func.count()).select_from(Event).where(Event.customer_id.is_not(None))
                )
                or 0
            )
            return emails, tasks, events
    finally:
        engine.dispose()


def test_seed002_clear_data_removes_only_seed_and_demo_customers(cli_case: CliCase) -> None:
    url, cli, settings, fresh_url = cli_case.url, cli_case.run, cli_case.settings, cli_case.database
    code, _, err = cli("demo", "-d", url)
    assert code == 0, err
    engine = create_sync_engine(settings, url=fresh_url)
    try:
        with sync_session_factory(engine)() as session, session.begin():
            seed_database(session, seed=7, size=TINY)
    finally:
        engine.dispose()
    with open_store_sync(url, settings=settings) as default:
        real = default.customers.create(name="Real Co", email="ops@real.example")
        # Looks like the seed's marker, but no seed wrote it: not a seed number.
        near = default.customers.create(name="Near", email="seed-x-tiny@flightlog.local")
        default.tasks.create(title="the default customer's task")
    with open_store_sync(url, settings=settings, customer_id=real.id) as tenant:
        task = tenant.tasks.create(title="real work")
        tenant.events.append({"event_type": "log", "task_id": task.id, "content": "kept"})
    kept = {"default@flightlog.local", "ops@real.example", "seed-x-tiny@flightlog.local"}
    emails, tasks, _ = _emails_and_tasks(fresh_url, settings)
    assert emails >= kept | {"seed-7-tiny@flightlog.local", "demo@acme-robotics.example"}
    assert tasks > 2

    code, out, err = cli("clear-data", "--dry-run", "-d", url)
    assert code == 0, err
    assert "seed-7-tiny@flightlog.local" in out
    assert "demo@acme-robotics.example" in out
    assert "founder@startup.example" in out
    assert "ops@real.example" not in out
    assert "seed-x-tiny" not in out
    assert "Would delete 3 customers" in out
    assert _emails_and_tasks(fresh_url, settings)[0] == emails

    cli_case.answer("n\n")
    code, _, _ = cli("clear-data", "-d", url)
    assert code == 1
    assert _emails_and_tasks(fresh_url, settings)[0] == emails

    code, out, err = cli("clear-data", "--yes", "-d", url)
    assert code == 0, err
    assert "Deleted 3 seed and demo customers" in out
    emails_after, tasks_after, events_after = _emails_and_tasks(fresh_url, settings)
    assert emails_after == kept
    assert tasks_after == 2
    with open_store_sync(url, settings=settings, customer_id=real.id) as tenant:
        assert [t.title for t in tenant.tasks.list().items] == ["real work"]
        assert [e.content for e in tenant.events.list(task_id=task.id).items][-1] == "kept"
        assert len(tenant.customers.deletions()) == 3
    with open_store_sync(url, settings=settings, customer_id=near.id) as tenant:
        assert tenant.customers.get().name == "Near"
    assert events_after > 0

    code, out, err = cli("clear-data", "--yes", "-d", url)
    assert code == 0, err
    assert "nothing to do" in out
