"""The one-time local sign-in link (issue 14, item 1), on SQLite and PostgreSQL.

A link signs a browser in once, within its lifetime, only from a loopback address
and never through a proxy; refusals are pages, not errors, and leave the link as
it was; the table holds only hashes; two redemptions racing: exactly one wins.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api_client import app_for
from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.db.urls import DatabaseUrl
from flightlog.models import ApiKey, Customer, LocalSignIn
from flightlog.services import local_sign_in
from flightlog.services.local_sign_in import SignInRefused, issue_link, redeem
from flightlog.settings import Settings
from flightlog.store import Store
from waiting import wait_until

LOCAL = ("127.0.0.1", 50123)


def _browser(store: Store, client: tuple[str, int] = LOCAL) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_for(store), client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


async def _issue(store: Store, **kwargs: Any) -> str:
    async with store.transaction() as session:
        token: str = await session.run_sync(lambda s: issue_link(s, store.customer_id, **kwargs))
    return token


async def _rows(store: Store) -> list[LocalSignIn]:
    async with store.reader() as session:
        found = await session.scalars(
            select(LocalSignIn).where(LocalSignIn.customer_id == store.customer_id)
        )
        return list(found)


async def _keys(store: Store) -> list[ApiKey]:
    async with store.reader() as session:
        found = await session.scalars(select(ApiKey).where(ApiKey.customer_id == store.customer_id))
        return list(found)


async def test_the_link_signs_in_once_with_a_read_write_key(store: Store) -> None:
    token = await _issue(store)
    async with _browser(store) as browser:
        signed = await browser.get("/login/local", params={"token": token})
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/"
        cookie = signed.headers["set-cookie"].lower()
        assert cookie.startswith("flightlog_key=fl_")
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert signed.headers["referrer-policy"] == "no-referrer"
        overview = await browser.get("/")
        assert overview.status_code == 200, overview.text
        assert 'action="/logout"' in overview.text  # the signed-in chrome, not the login form

        again = await browser.get("/login/local", params={"token": token})
        assert again.status_code == 410
        assert "already been used" in again.text
        assert "set-cookie" not in again.headers
    (key,) = await _keys(store)
    assert key.name == local_sign_in.KEY_NAME
    assert key.scopes == ["read", "write"]
    assert key.expires_at is not None
    assert timedelta(hours=7) < key.expires_at - datetime.now(UTC) <= timedelta(hours=8)
    (row,) = await _rows(store)
    assert row.used_at is not None


async def test_an_expired_or_unknown_link_shows_the_sign_in_page(store: Store) -> None:
    expired = await _issue(store, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    async with _browser(store) as browser:
        late = await browser.get("/login/local", params={"token": expired})
        assert late.status_code == 410
        assert "has expired" in late.text
        assert 'name="key"' in late.text  # the sign-in form, to paste a key instead
        for token in ("A" * 43, "not a token", "", "x" * 5000):
            unknown = await browser.get("/login/local", params={"token": token})
            assert unknown.status_code == 404, token
            assert "not one this server issued" in unknown.text
        bare = await browser.get("/login/local")
        assert bare.status_code == 404
        assert "flightlog_key" not in (late.headers.get("set-cookie") or "")
    (row,) = await _rows(store)
    assert row.used_at is None  # refused, not consumed
    assert await _keys(store) == []


@pytest.mark.parametrize("client", [("10.1.2.3", 1234), ("192.168.1.20", 4242), ("::2", 80)])
async def test_a_browser_on_another_host_is_refused_and_the_link_survives(
    store: Store, client: tuple[str, int]
) -> None:
    token = await _issue(store)
    async with _browser(store, client) as elsewhere:
        refused = await elsewhere.get("/login/local", params={"token": token})
        assert refused.status_code == 403
        assert "only in a browser on the machine the server runs on" in refused.text
        assert client[0] in refused.text
        assert "set-cookie" not in refused.headers
    assert await _keys(store) == []
    async with _browser(store, ("::1", 50000)) as here:  # IPv6 loopback is this machine too
        assert (await here.get("/login/local", params={"token": token})).status_code == 303


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
        {"X-Forwarded-Host": "127.0.0.1:8000"},
    ],
)
async def test_a_request_through_a_proxy_is_refused(store: Store, header: dict[str, str]) -> None:
    """A proxy on this machine connects from loopback for everyone it forwards."""
    token = await _issue(store)
    async with _browser(store) as browser:
        refused = await browser.get("/login/local", params={"token": token}, headers=header)
        assert refused.status_code == 403
        assert "came through a proxy" in refused.text
    (row,) = await _rows(store)
    assert row.used_at is None


async def test_the_table_holds_only_the_tokens_hash(store: Store) -> None:
    tokens = [await _issue(store) for _ in range(3)]
    async with store.reader() as session:
        raw = (await session.execute(text("SELECT * FROM local_sign_ins"))).all()
    dumped = repr(raw)
    for token in tokens:
        assert token not in dumped
    hashes = {row.token_hash for row in await _rows(store)}
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}
    assert all(token not in repr(row) for row in await _rows(store) for token in tokens)


async def test_the_sign_in_page_names_whose_work_a_key_shows(store: Store) -> None:
    async with _browser(store) as browser:
        page = (await browser.get("/login")).text
    assert "A key belongs to one customer and sees only that customer's" in page
    assert "demo@acme-robotics.example" in page
    assert "default@flightlog.local" in page
    # The key it suggests creating is the demo customer's, not the default one's.
    assert "api-key create --name dashboard --scope read --customer demo@" in page
    assert '<label for="sign-in-key">' in page


def _race(url: DatabaseUrl, settings: Settings, token: str) -> list[Any]:
    """Redeem ``token`` from two sessions, the second starting while the first holds its
    claim uncommitted; on PostgreSQL the test waits until the second is blocked on it."""
    engine = create_sync_engine(settings, url=url)
    sessions = sync_session_factory(engine)
    outcomes: list[Any] = [None, None]
    first_claimed, second_started = threading.Event(), threading.Event()

    def attempt(index: int, before_commit: Callable[[], None]) -> None:
        try:
            with sessions() as session, session.begin():
                outcomes[index] = redeem(session, token, key_lifetime=timedelta(hours=1))
                before_commit()
        except SignInRefused as exc:
            outcomes[index] = exc

    def second() -> None:
        first_claimed.wait(60)
        second_started.set()
        attempt(1, lambda: None)

    def hold() -> None:
        first_claimed.set()
        if url.dialect == "postgresql":
            wait_until(lambda: _blocked_backends(engine) > 0, 60, "the second redemption to wait")
        else:
            second_started.wait(60)

    threads = [
        threading.Thread(target=attempt, args=(0, hold)),
        threading.Thread(target=second),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        engine.dispose()
    return outcomes


def _blocked_backends(engine: Any) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE local_sign_ins%'"
                )
            )
            or 0
        )


def test_two_redemptions_racing_exactly_one_wins(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> None:
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    try:
        with Session(engine) as session, session.begin():
            customer = Customer(name="Racer", email="racer@test.local")
            session.add(customer)
            session.flush()
            token = issue_link(session, customer.id)
    finally:
        engine.dispose()
    outcomes = _race(fresh_head_url, test_settings, token)
    winners = [o for o in outcomes if not isinstance(o, SignInRefused)]
    losers = [o for o in outcomes if isinstance(o, SignInRefused)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    assert losers[0].reason == "used"
    engine = create_sync_engine(test_settings, url=fresh_head_url)
    try:
        with engine.connect() as connection:
            keys = connection.scalar(text("SELECT count(*) FROM api_keys"))
    finally:
        engine.dispose()
    assert keys == 1
