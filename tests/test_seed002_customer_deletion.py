"""Seed 002: deleting a customer cascades to everything it owns, audited; blobs after commit.

The seed's "tests for cascade deletes" at the scale of a tenant: an operator
deletes a customer (``store.customers.delete``, ``flightlog customer delete``)
and every row it owns goes in one transaction, the blob files only it used
are removed after the commit, another customer's rows and shared blobs stay,
and an audit record that belongs to no customer says who deleted what and why.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api_client import app_for, error_code
from cli_runner import CliCase, one_sentence
from flightlog import NotFound, PermissionDenied, ValidationError
from flightlog.client import AsyncClient
from flightlog.db.engine import create_sync_engine
from flightlog.enums import EventType
from flightlog.models import ArtifactBlob, Customer, Event
from flightlog.ops.purge import purge
from flightlog.services.customer_deletion import _owned_counts
from flightlog.store import Store, open_store_sync
from two_tenants import V1, World

#: Every kind of row a customer can own (tests/two_tenants.World builds each).
EVERYTHING = (
    "task",
    "run",
    "waiting_run",
    "queued_run",
    "agent_run",
    "artifact",
    "event",
    "agent",
    "project",
    "context",
    "modification",
    "template",
    "recommendation",
    "approved_recommendation",
    "optimization",
    "pull_request",
    "trace",
    "session",
    "api_key",
)
BIG = b"only the deleted customer's large artifact " * 3000
SHARED = b"both customers stored these bytes " * 3000


async def _counts(store: Store, customer_id: uuid.UUID) -> dict[str, int]:
    async with store.transaction() as s:
        return {t: int(await s.scalar(q) or 0) for t, q in _owned_counts(customer_id).items()}


def _blob_files(store: Store) -> set[Path]:
    root = store.blob_policy.blob_dir
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def test_seed002_delete_customer_cascades_to_everything_it_owns(
    store: Store, other: Store, owner: World, mine: World
) -> None:
    await owner.ids(EVERYTHING)
    await mine.ids(EVERYTHING)
    a_task, b_task = await owner.id("task"), await mine.id("task")
    await store.artifacts.put(a_task, "big.bin", BIG)
    await store.artifacts.put(a_task, "shared.bin", SHARED)
    b_shared = await other.artifacts.put(b_task, "shared.bin", SHARED)
    files_before = _blob_files(store)
    assert len(files_before) == 2
    before = await _counts(store, store.customer_id)
    assert all(before[t] > 0 for t in ("tasks", "task_runs", "agent_runs", "artifacts", "events"))
    assert all(before[t] > 0 for t in ("projects", "pull_requests", "recommendations", "agents"))
    assert before == await store.customers.footprint()
    b_before = await _counts(other, other.customer_id)

    result = await store.customers.delete(actor="ops@example", reason="account closed")

    assert result.customer_id == store.customer_id
    assert result.deleted == before
    assert await _counts(other, store.customer_id) == dict.fromkeys(before, 0)
    assert await _counts(other, other.customer_id) == b_before
    # The blob only A used is gone, row and file (after the commit); the shared one stays.
    assert result.blobs_deleted >= 1
    remaining = _blob_files(store)
    assert len(remaining) == 1
    assert await other.artifacts.read(b_shared.id) == SHARED
    async with other.transaction() as s:
        assert await s.get(Customer, store.customer_id) is None
        stored = await s.scalar(select(func.count()).select_from(ArtifactBlob))
        assert stored is not None
        assert stored >= 1
    with pytest.raises(NotFound):
        await store.tasks.get(a_task)


async def test_seed002_customer_deletion_is_audited_and_the_record_survives(
    store: Store, other: Store, owner: World
) -> None:
    await owner.ids(("task", "run", "event", "agent"))
    await store.customers.suspend(actor="ops", reason="unpaid")  # suspended customers go too
    result = await store.customers.delete(actor="ops@example", reason="account closed")

    [record] = await other.customers.deletions(customer_id=store.customer_id)
    assert record.event_id == result.audit_event_id
    assert (record.customer_id, record.name) == (store.customer_id, "Test")
    assert (record.actor, record.reason, record.status) == (
        "ops@example",
        "account closed",
        "SUSPENDED",
    )
    assert record.deleted == result.deleted
    assert record.deleted["tasks"] == 1
    async with other.transaction() as s:
        event = await s.get(Event, result.audit_event_id)
        assert event is not None
        assert (event.event_type, event.customer_id) == (EventType.AUDIT, None)
        assert (event.entity_type, event.entity_id) == ("Customer", str(store.customer_id))
        assert "email" not in (event.data or {})
    # No tenant reads it as one of its own events.
    page = await other.events.list(event_types=["audit"], limit=1000)
    assert result.audit_event_id not in {e.id for e in page.items}


async def test_seed002_deleting_an_unknown_customer_is_not_found_and_changes_nothing(
    store: Store, other: Store
) -> None:
    task = await other.tasks.create(title="stays")
    ghost = Store(store.engine, store.settings, uuid.uuid4(), connection=store.connection)
    with pytest.raises(NotFound):
        await ghost.customers.delete(actor="ops")
    with pytest.raises(NotFound):
        await ghost.customers.footprint()
    await store.customers.delete()
    with pytest.raises(NotFound):
        await store.customers.delete()  # twice: the second finds nothing
    assert (await other.tasks.get(task.id)).title == "stays"
    assert await other.customers.deletions(customer_id=ghost.customer_id) == []


def test_seed002_cli_deletes_a_customer_after_confirmation(cli_case: CliCase) -> None:
    url, cli, settings = cli_case.url, cli_case.run, cli_case.settings
    with open_store_sync(url, settings=settings) as default:
        gone = default.customers.create(name="Gone Inc", email="Ops@Gone.example")
        kept = default.customers.create(name="Kept Inc", email="ops@kept.example")
    for customer in (gone, kept):
        with open_store_sync(url, settings=settings, customer_id=customer.id) as tenant:
            tenant.tasks.create(title=f"{customer.name}'s task")

    cli_case.answer("n\n")
    code, out, _ = cli("customer", "delete", "OPS@gone.example", "-d", url)
    assert code == 1
    assert "1 tasks" in out
    code, out, err = cli("customer", "list", "-d", url)
    assert code == 0, err
    assert "ops@gone.example" in out

    code, out, err = cli(
        "customer", "delete", str(gone.id), "--yes", "--reason", "closed", "-d", url
    )
    assert code == 0, err
    assert "Deleted" in out
    assert "Gone Inc" in out
    code, out, _ = cli("customer", "list", "-d", url)
    assert "ops@gone.example" not in out
    assert "ops@kept.example" in out
    cli_case.columns(80)  # a narrow terminal: ids are still whole, to paste back
    code, out, _ = cli("customer", "list", "-d", url)
    assert str(kept.id) in out
    cli_case.columns(200)
    code, out, _ = cli("customer", "deletions", "-d", url)
    assert code == 0
    assert str(gone.id) in out
    assert "closed" in out

    code, _, err = cli("customer", "delete", "ops@gone.example", "--yes", "-d", url)
    assert code == 1
    assert "no customer has the id or email" in one_sentence(err)
    with open_store_sync(url, settings=settings, customer_id=kept.id) as tenant:
        assert [t.title for t in tenant.tasks.list().items] == ["Kept Inc's task"]


async def test_seed002_http_deletes_a_customer_for_an_operator_key_only(
    store: Store, other: Store, owner: World
) -> None:
    await owner.ids(("task", "run", "event", "agent"))
    operator_key = (await other.api_keys.create("ops", scopes=["operator"])).key
    tenant_key = (await other.api_keys.create("tenant")).key
    transport = httpx.ASGITransport(app=app_for(other))
    path = f"/customers/{store.customer_id}"
    async with httpx.AsyncClient(transport=transport, base_url=f"http://t{V1}") as api:
        for key, status in ((None, 401), ("fl_nope", 401), (tenant_key, 403)):
            headers = {} if key is None else {"Authorization": f"Bearer {key}"}
            assert (await api.delete(path, headers=headers)).status_code == status
        assert (await store.tasks.get(await owner.id("task"))).title == "secret task"
        as_operator = {"Authorization": f"Bearer {operator_key}"}
        own = await api.delete(f"/customers/{other.customer_id}", headers=as_operator)
        assert error_code(own, 409) == "conflict"
        missing = await api.delete(f"/customers/{uuid.uuid4()}", headers=as_operator)
        assert error_code(missing, 404) == "not_found"
        bad = await api.delete(path, headers=as_operator, params={"actor": "x" * 256})
        assert bad.status_code == 422

    async with AsyncClient("http://t", operator_key, transport=transport) as fl:
        out = await fl.customers.delete(store.customer_id, reason="closed via HTTP")
        assert out.customer_id == store.customer_id
        assert out.deleted["tasks"] == 1
        with pytest.raises(NotFound):
            await fl.customers.delete(store.customer_id)
    async with AsyncClient("http://t", tenant_key, transport=transport) as fl:
        with pytest.raises(PermissionDenied):
            await fl.customers.delete(uuid.uuid4())
    [record] = await other.customers.deletions(customer_id=store.customer_id)
    assert record.reason == "closed via HTTP"
    assert record.actor is not None
    assert record.actor.startswith("api-key:")


async def test_seed002_deletion_refuses_bad_input_and_changes_nothing(store: Store) -> None:
    task = await store.tasks.create(title="stays")
    with pytest.raises(ValidationError, match="actor"):
        await store.customers.delete(actor="x" * 256)
    with pytest.raises(ValidationError, match="reason"):
        await store.customers.delete(reason="x" * 1001)
    assert (await store.tasks.get(task.id)).title == "stays"


def test_seed002_the_record_of_a_deletion_outlives_the_ninety_day_purge(cli_case: CliCase) -> None:
    """`flightlog purge` erases old telemetry, never the audit record of a deleted customer."""
    with open_store_sync(cli_case.url, settings=cli_case.settings) as default:
        gone = default.customers.create(name="Gone Inc", email="ops@gone.example")
        kept = default.customers.create(name="Kept Inc", email="ops@kept.example")
        with open_store_sync(cli_case.url, settings=cli_case.settings, customer_id=kept.id) as k:
            task = k.tasks.create(title="kept")
            k.events.append({"event_type": "log", "task_id": task.id, "content": "old"})
        with open_store_sync(cli_case.url, settings=cli_case.settings, customer_id=gone.id) as g:
            g.customers.delete(actor="ops", reason="closed")
        engine = create_sync_engine(cli_case.settings, url=cli_case.database)
        try:
            # Everything is older than a cutoff a day from now.
            report = purge(engine, cutoff=datetime.now(UTC) + timedelta(days=1))
        finally:
            engine.dispose()
        assert report.events >= 1
        [record] = default.customers.deletions(customer_id=gone.id)
        assert (record.actor, record.reason) == ("ops", "closed")
        with open_store_sync(cli_case.url, settings=cli_case.settings, customer_id=kept.id) as k:
            assert k.events.list(task_id=task.id).items == []
