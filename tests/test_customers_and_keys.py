"""Customers (tenants) and API keys (seed 002), through the tenancy facades, on both dialects."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from flightlog import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from flightlog.enums import CustomerPlan, CustomerStatus
from flightlog.models import ApiKey, Customer, Event, Task
from flightlog.services import customers as customer_service
from flightlog.services._common import utc_now
from flightlog.services.api_keys import INVALID_KEY_MESSAGE
from flightlog.store import Store
from flightlog.store.tenancy_facades import Agents, ApiKeys, Customers


def _email(tag: str = "c") -> str:
    return f"{tag}-{uuid.uuid4().hex}@example.test"


async def _count(store: Store, model: Any) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _audit(store: Store, entity_type: str) -> list[Event]:
    page = await store.events.list(limit=1000)
    return [e for e in page.items if e.entity_type == entity_type]


# --- customers ------------------------------------------------------------------------------


async def test_seed_002_unique_email_refused(store: Store) -> None:
    """seed 002: customers.email is unique; a second sign-up with it is a Conflict."""
    facade = Customers(store)
    email = _email("admin")
    first = await facade.create(name="Acme Corp", email=email, plan="enterprise")
    before = await _count(store, Customer)
    with pytest.raises(Conflict, match="already exists"):
        await facade.create(name="Acme again", email=email)
    with pytest.raises(Conflict):
        await facade.create(name="Acme shouting", email=email.upper())
    assert await _count(store, Customer) == before
    assert first.email == email
    assert first.status is CustomerStatus.ACTIVE


async def test_seed_002_plans_and_statuses_accepted(store: Store) -> None:
    """seed 002: plans FREE/STARTUP/ENTERPRISE and statuses ACTIVE/SUSPENDED/CHURNED."""
    facade = Customers(store)
    created = [
        await facade.create(name=f"Plan {plan}", email=_email(plan.lower()), plan=plan.lower())
        for plan in ("FREE", "STARTUP", "ENTERPRISE")
    ]
    assert [c.plan for c in created] == [
        CustomerPlan.FREE,
        CustomerPlan.STARTUP,
        CustomerPlan.ENTERPRISE,
    ]
    target = Customers(
        Store(store.engine, store.settings, created[1].id, connection=store.connection)
    )
    seen = [(await target.suspend(actor="ops")).status]
    seen.append((await target.reactivate(actor="ops")).status)
    seen.append((await target.set_status("churned", actor="ops", reason="left")).status)
    assert seen == [CustomerStatus.SUSPENDED, CustomerStatus.ACTIVE, CustomerStatus.CHURNED]
    assert (await target.get()).status is CustomerStatus.CHURNED


async def test_create_validates_input_and_writes_nothing(store: Store) -> None:
    facade = Customers(store)
    before = (await _count(store, Customer), await _count(store, Event))
    with pytest.raises(ValidationError, match="not an email"):
        await facade.create(name="X", email="no-at-sign")
    with pytest.raises(ValidationError, match="unknown plan"):
        await facade.create(name="X", email=_email(), plan="PLATINUM")
    with pytest.raises(ValidationError, match="name"):
        await facade.create(name="   ", email=_email())
    with pytest.raises(ValidationError, match="metadata"):
        await facade.create(name="X", email=_email(), metadata=["not", "an", "object"])  # type: ignore[arg-type]
    assert (await _count(store, Customer), await _count(store, Event)) == before


async def test_created_customer_is_normalised_audited_and_readable(store: Store) -> None:
    facade = Customers(store)
    created = await facade.create(
        name="  StartupCo ", email="  Founder@Startup.Test ", plan="startup", metadata={"seats": 3}
    )
    assert (created.name, created.email) == ("StartupCo", "founder@startup.test")
    mine = Customers(Store(store.engine, store.settings, created.id, connection=store.connection))
    loaded = await mine.get()
    assert loaded.metadata_ == {"seats": 3}
    async with store.reader() as s:
        creation = (await s.scalars(select(Event).where(Event.entity_id == str(created.id)))).all()
    assert [(e.entity_type, e.data and e.data["to"]) for e in creation] == [("Customer", "ACTIVE")]


async def test_update_changes_name_plan_metadata_only(store: Store) -> None:
    facade = Customers(store)
    updated = await facade.update(name="Renamed", plan=CustomerPlan.ENTERPRISE, metadata={"a": 1})
    assert (updated.name, updated.plan, updated.metadata_) == (
        "Renamed",
        CustomerPlan.ENTERPRISE,
        {"a": 1},
    )
    # The email and the status are not parameters: mypy refuses these calls, and at
    # run time Python does, before anything is written.
    with pytest.raises(TypeError, match="unexpected keyword argument 'email'"):
        await facade.update(email=_email())  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'status'"):
        await facade.update(status="SUSPENDED")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown plan"):
        await facade.update(plan="GOLD", name="Not applied")
    loaded = await facade.get()
    assert (loaded.name, loaded.status) == ("Renamed", CustomerStatus.ACTIVE)


async def test_illegal_status_changes_are_refused_and_write_nothing(store: Store) -> None:
    facade = Customers(store)
    with pytest.raises(InvalidTransition) as same:
        await facade.reactivate()
    assert (same.value.from_status, same.value.to_status) == ("ACTIVE", "ACTIVE")
    await facade.churn(actor="ops", reason="contract ended")
    events_before = await _count(store, Event)
    for move in (facade.reactivate, facade.suspend):
        with pytest.raises(InvalidTransition) as info:
            await move()
        assert info.value.from_status == "CHURNED"
    with pytest.raises(ValidationError, match="unknown status"):
        await facade.set_status("DELETED")
    assert await _count(store, Event) == events_before
    assert (await facade.get()).status is CustomerStatus.CHURNED


async def test_status_changes_are_audited_with_actor_and_reason(store: Store) -> None:
    facade = Customers(store)
    await facade.suspend(actor="ops@example.test", reason="unpaid invoice")
    await facade.reactivate(actor="ops@example.test")
    audit = await _audit(store, "Customer")
    assert [(e.data or {}).get("from") for e in audit] == ["ACTIVE", "SUSPENDED"]
    assert [(e.data or {}).get("to") for e in audit] == ["SUSPENDED", "ACTIVE"]
    assert {e.actor for e in audit} == {"ops@example.test"}
    assert (audit[0].data or {}).get("reason") == "unpaid invoice"
    assert {e.entity_id for e in audit} == {str(store.customer_id)}


async def test_seed_002_suspended_customer_cannot_write_but_can_read(store: Store) -> None:
    """seed 002: a SUSPENDED customer is read-only until it is reactivated."""
    facade = Customers(store)
    task = await store.tasks.create(title="before suspension")
    await facade.suspend(actor="ops", reason="unpaid")
    tasks_before = await _count(store, Task)
    with pytest.raises(PermissionDenied, match="SUSPENDED"):
        await store.tasks.create(title="while suspended")
    with pytest.raises(PermissionDenied):
        await facade.update(name="Sneaky rename")
    with pytest.raises(PermissionDenied):
        await ApiKeys(store).create("ci")
    with pytest.raises(PermissionDenied):
        await Agents(store).register("cost-agent", "COST")
    assert await _count(store, Task) == tasks_before
    assert (await store.tasks.get(task.id)).title == "before suspension"
    assert [t.id for t in (await store.tasks.list()).items] == [task.id]
    assert (await facade.get()).name == "Test"

    await facade.reactivate(actor="ops")
    again = await store.tasks.create(title="after reactivation")
    assert {t.id for t in (await store.tasks.list()).items} == {task.id, again.id}


async def test_churned_customer_stays_read_only(store: Store) -> None:
    facade = Customers(store)
    task = await store.tasks.create(title="history")
    await facade.churn(actor="ops")
    with pytest.raises(PermissionDenied, match="CHURNED"):
        await store.tasks.create(title="after churn")
    with pytest.raises(InvalidTransition):
        await facade.reactivate(actor="ops")
    assert (await store.tasks.get(task.id)).title == "history"


async def test_list_customers_filters_and_pages(store: Store) -> None:
    facade = Customers(store)
    made = [await facade.create(name=f"L{i}", email=_email(f"l{i}")) for i in range(3)]
    suspended = Customers(
        Store(store.engine, store.settings, made[1].id, connection=store.connection)
    )
    await suspended.suspend(actor="ops")
    mine = {c.id for c in made}
    seen: list[uuid.UUID] = []
    cursor = None
    async with store.reader() as s:
        while True:
            page = await s.run_sync(customer_service.list_customers, cursor=cursor, limit=2)
            seen.extend(c.id for c in page.items if c.id in mine)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        only_suspended = await s.run_sync(
            customer_service.list_customers, status="suspended", limit=500
        )
        with pytest.raises(ValidationError):
            await s.run_sync(customer_service.list_customers, limit=0)
    assert seen == [c.id for c in made]
    assert made[1].id in {c.id for c in only_suspended.items}
    assert {made[0].id, made[2].id}.isdisjoint(c.id for c in only_suspended.items)


async def test_default_customer_is_created_once(store: Store) -> None:
    async with store.transaction() as s:
        first = await s.run_sync(customer_service.ensure_default_customer)
        second = await s.run_sync(customer_service.ensure_default_customer)
        default = await s.get(Customer, first)
    assert first == second
    assert default is not None
    assert default.email == customer_service.DEFAULT_CUSTOMER_EMAIL


async def test_customers_facade_only_reaches_its_own_record(store: Store, other: Store) -> None:
    mine, theirs = Customers(store), Customers(other)
    await theirs.update(name="Theirs renamed")
    await mine.suspend(actor="ops")
    assert (await mine.get()).id == store.customer_id
    assert (await theirs.get()).id == other.customer_id
    assert (await theirs.get()).status is CustomerStatus.ACTIVE
    assert (await mine.get()).name == "Test"
    await other.tasks.create(title="other customer still writes")


# --- API keys -------------------------------------------------------------------------------


async def test_key_has_the_documented_shape(store: Store) -> None:
    created = await ApiKeys(store).create("ci", scopes=["read", "write", "read"])
    assert re.fullmatch(r"fl_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", created.key)
    assert created.prefix == created.key[:11]
    assert created.scopes == ["read", "write"]
    assert created.customer_id == store.customer_id
    async with store.reader() as s:
        row = await s.get(ApiKey, created.id)
    assert row is not None
    assert row.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert row.prefix == created.prefix


async def test_seed_002_api_keys_never_stored_in_clear(store: Store) -> None:
    """seed 002: API keys are stored hashed; the secret is nowhere in the database."""
    keys = ApiKeys(store)
    created = await keys.create("deploy", scopes=["deploy"])
    await keys.verify(created.key)
    await keys.revoke(created.id, actor="ops", reason="rotation")
    secret = created.key.split("_", 2)[2]
    async with store.reader() as s:
        key_rows = (await s.execute(text("SELECT * FROM api_keys"))).all()
        event_rows = (await s.execute(text("SELECT * FROM events"))).all()
    stored = " ".join(str(value) for row in key_rows for value in row)
    logged = " ".join(str(value) for row in event_rows for value in row)
    assert created.prefix in stored
    assert created.prefix in logged  # the audit names the key, by prefix only
    for needle in (created.key, secret):
        assert needle not in stored
        assert needle not in logged


async def test_reprs_never_show_the_secret_or_the_hash(store: Store) -> None:
    keys = ApiKeys(store)
    created = await keys.create("ci")
    key_hash = hashlib.sha256(created.key.encode()).hexdigest()
    async with store.reader() as s:
        row = await s.get(ApiKey, created.id)
    listed = await keys.list()
    for shown in (
        repr(created),
        str(created),
        repr(row),
        repr(listed),
        repr(await keys.get(created.id)),
    ):
        assert created.key not in shown
        assert key_hash not in shown
    assert not hasattr(listed[0], "key_hash")
    assert created.prefix in repr(created)


async def test_verify_returns_identity_and_stamps_last_used(store: Store) -> None:
    keys = ApiKeys(store)
    created = await keys.create("agent", scopes=["events:write"])
    assert (await keys.get(created.id)).last_used_at is None
    verified = await keys.verify(created.key)
    assert (verified.customer_id, verified.key_id, verified.scopes) == (
        store.customer_id,
        created.id,
        ["events:write"],
    )
    assert (await keys.get(created.id)).last_used_at is not None


async def test_wrong_or_malformed_keys_are_refused_alike(store: Store) -> None:
    keys = ApiKeys(store)
    created = await keys.create("ci")
    secret = created.key[12:]
    forged_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    attempts = [
        f"{created.prefix}_{forged_secret}",  # right prefix, wrong secret
        "fl_00000000_" + secret,  # unknown prefix
        created.key[:-1],  # too short
        created.key + "x",  # too long
        created.key.replace("fl_", "xx_", 1),
        "",
        "fl_" + "G" * 8 + "_" + secret,
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as info:
            await keys.verify(attempt)
        assert info.value.message == INVALID_KEY_MESSAGE
    assert (await keys.get(created.id)).last_used_at is None


async def test_revoked_key_is_refused_and_cannot_be_revoked_twice(store: Store) -> None:
    keys = ApiKeys(store)
    created = await keys.create("old")
    revoked = await keys.revoke(created.id, actor="ops", reason="leaked")
    assert revoked.revoked_at is not None
    with pytest.raises(PermissionDenied, match="revoked"):
        await keys.verify(created.key)
    with pytest.raises(Conflict, match="already revoked"):
        await keys.revoke(created.id)
    assert [k.id for k in await keys.list(include_revoked=False)] == []
    assert [k.id for k in await keys.list()] == [created.id]
    actions = [(e.data or {}).get("action") for e in await _audit(store, "ApiKey")]
    assert actions == ["created", "revoked"]


async def test_expired_key_is_refused(store: Store) -> None:
    keys = ApiKeys(store)
    created = await keys.create("short-lived", expires_at=utc_now() + timedelta(days=1))
    await keys.verify(created.key)
    async with store.transaction() as s:
        await s.execute(
            update(ApiKey)
            .where(ApiKey.id == created.id)
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    with pytest.raises(PermissionDenied, match="expired"):
        await keys.verify(created.key)


async def test_key_creation_validates_input_and_writes_nothing(store: Store) -> None:
    keys = ApiKeys(store)
    before = await _count(store, ApiKey)
    with pytest.raises(ValidationError, match="future"):
        await keys.create("past", expires_at=utc_now() - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="timezone"):
        await keys.create("naive", expires_at=utc_now().replace(tzinfo=None))
    with pytest.raises(ValidationError, match="scopes"):
        await keys.create("one string", scopes="read")
    with pytest.raises(ValidationError, match="name"):
        await keys.create("")
    assert await _count(store, ApiKey) == before


async def test_keys_of_a_suspended_customer_are_refused_until_reactivated(store: Store) -> None:
    keys, facade = ApiKeys(store), Customers(store)
    created = await keys.create("ci")
    await facade.suspend(actor="ops")
    with pytest.raises(PermissionDenied, match="SUSPENDED"):
        await keys.verify(created.key)
    await facade.reactivate(actor="ops")
    assert (await keys.verify(created.key)).customer_id == store.customer_id


async def test_another_customer_cannot_see_or_revoke_a_key(store: Store, other: Store) -> None:
    mine, theirs = ApiKeys(store), ApiKeys(other)
    created = await mine.create("mine")
    their_key = await theirs.create("theirs")
    with pytest.raises(NotFound):
        await theirs.revoke(created.id)
    with pytest.raises(NotFound):
        await theirs.get(created.id)
    assert [k.id for k in await theirs.list()] == [their_key.id]
    assert [k.id for k in await mine.list()] == [created.id]
    assert (await mine.verify(created.key)).customer_id == store.customer_id
    assert (await theirs.verify(their_key.key)).customer_id == other.customer_id
