"""The dashboard's heavy aggregates from the sink equal the database's, on both dialects.

The same work (tests/sink_data.py: edges of windows and bins, open steps, odd names,
a second customer) is copied by ``flightlog sink run --once``; a probe process that
owns the chdb sink answers every question, and the Store answers the same ones from
the database. Then the dashboard itself: ``flightlog serve`` with a chdb sink tails
and answers /insights from it (and says so) with the page the database gives, a sink
that is down leaves the page to the database, and ``--workers 2`` with chdb is refused.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from cli_runner import url_of
from flightlog.api import create_app
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.models import Customer
from flightlog.settings import Settings
from flightlog.sink.status import STATUS_FILE
from flightlog.store import Store, open_store
from flightlog.web.session import COOKIE
from pg_cluster import free_port
from serving import serving
from sink_answers import plain, same
from sink_data import EPOCH, METRICS, Filled, fill, fill_epoch
from sink_support import Sources, environment, flightlog, module_sources, probe
from waiting import wait_until


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Sources]:
    yield from module_sources(tmp_path_factory, test_settings)


@dataclass
class Copied:
    """A source with the work of two customers, copied into a chdb sink by ``--once``."""

    source: DatabaseUrl
    sink: Path
    customer: uuid.UUID
    other: uuid.UUID
    filled: Filled
    theirs: Filled
    key: str

    @property
    def sink_url(self) -> str:
        return f"chdb://{self.sink}"


_copied: dict[str, Copied] = {}


def _customer(url: DatabaseUrl, settings: Settings) -> uuid.UUID:
    engine = create_sync_engine(settings, url=url)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            customer = Customer(name="Other", email=f"{uuid.uuid4().hex}@other.test")
            session.add(customer)
        return customer.id
    finally:
        engine.dispose()


@pytest.fixture
async def copied(
    dialect: str,
    sources: Sources,
    tmp_path_factory: pytest.TempPathFactory,
    test_settings: Settings,
) -> Copied:
    """Filled and copied once per dialect, shared by the module's tests."""
    if dialect not in _copied:
        source = sources.fresh(dialect)
        other = _customer(source, test_settings)
        async with open_store(url_of(source), upgrade=False) as store:
            filled = await fill(store)
            await fill_epoch(store, filled.tasks[0])
            key = (await store.api_keys.create("sink test", scopes=["read"])).key
            customer = store.customer_id
        async with open_store(url_of(source), customer_id=other, upgrade=False) as store:
            theirs = await fill(store, seed=99, runs=8)
        sink = tmp_path_factory.mktemp(f"sink-{dialect}") / "sink"
        done = flightlog(environment(source, f"chdb://{sink}"), "sink", "run", "--once", "-q")
        assert done.returncode == 0, done.stderr
        _copied[dialect] = Copied(source, sink, customer, other, filled, theirs, key)
    return _copied[dialect]


def _questions(filled: Filled) -> list[dict[str, Any]]:
    base = filled.base
    windows = [
        {"since": base, "bucket_seconds": 3600, "buckets": 240},
        {"since": base + timedelta(days=1), "bucket_seconds": 86_400, "buckets": 10},
    ]
    asked: list[dict[str, Any]] = []
    for window in windows:
        asked += [{"ask": "usage", **window}, {"ask": "run_outcomes", **window}]
    asked += [
        {"ask": "run_durations", "since": base},
        {
            "ask": "run_durations",
            "since": base + timedelta(days=3),
            "until": base + timedelta(days=6),
        },
        {"ask": "metric_names"},
        {"ask": "metric_summary", "task_id": filled.tasks[0]},
        {"ask": "metric_summary", "run_id": filled.runs[1], "names": list(METRICS[:2])},
        {
            "ask": "metric_summary",
            "task_id": filled.tasks[2],
            "since": base + timedelta(days=2),
            "until": base + timedelta(days=5),
        },
    ]
    for name in METRICS:
        asked.append(
            {
                "ask": "metric_buckets",
                "name": name,
                "bucket_seconds": 3600,
                "task_id": filled.tasks[1],
                "since": base,
                "until": base + timedelta(days=9),
            }
        )
    asked.append(
        {
            "ask": "metric_buckets",
            "name": METRICS[0],
            "bucket_seconds": 86_400,
            "run_id": filled.runs[3],
        }
    )
    # Windows on odd seconds and widths, the widest windows, and around 1970-01-01 (where
    # the sink asks completed_at itself up to the epoch, its whole seconds after it).
    odd = base + timedelta(hours=5, seconds=17)
    asked += [
        {"ask": "run_outcomes", "since": odd, "bucket_seconds": 61, "buckets": 1000},
        {"ask": "run_outcomes", "since": base, "bucket_seconds": 7 * 86_400, "buckets": 2},
        {"ask": "run_durations", "since": odd, "until": odd + timedelta(days=2, seconds=3)},
    ]
    for since in (EPOCH - timedelta(hours=1), EPOCH, EPOCH + timedelta(seconds=1)):
        asked += [
            {"ask": "run_outcomes", "since": since, "bucket_seconds": 60, "buckets": 90},
            {"ask": "run_durations", "since": since, "until": EPOCH + timedelta(hours=1)},
        ]
    asked.append({"ask": "run_durations", "since": EPOCH + timedelta(seconds=1)})
    return asked


async def _database(store: Store, question: dict[str, Any]) -> Any:
    asked = dict(question)
    kind = asked.pop("ask")
    if kind == "usage":
        return await store.views.usage(**asked, by="agent")
    if kind == "run_outcomes":
        return await store.views.run_outcomes(**asked)
    if kind == "run_durations":
        return await store.views.run_durations(**asked)
    if kind == "metric_names":
        return await store.metrics.names()
    if kind == "metric_summary":
        return await store.metrics.summarize(**asked)
    return await store.metrics.buckets(asked.pop("name"), **asked)


def _wire(question: dict[str, Any], customer: uuid.UUID) -> dict[str, Any]:
    return {**plain(question), "customer": str(customer)}


@pytest.mark.parametrize("whose", ["customer", "other"])
async def test_the_sinks_aggregates_equal_the_databases(copied: Copied, whose: str) -> None:
    customer, filled = (
        (copied.customer, copied.filled) if whose == "customer" else (copied.other, copied.theirs)
    )
    questions = _questions(filled)
    answers = probe(copied.sink_url, [_wire(q, customer) for q in questions])
    async with open_store(url_of(copied.source), customer_id=customer, upgrade=False) as store:
        expected = [plain(await _database(store, q)) for q in questions]
    assert len(answers) == len(expected)
    differences = [
        d
        for q, a, e in zip(questions, answers, expected, strict=True)
        for d in same(a, e, q["ask"])
    ]
    assert differences == []
    # The work is there to compare, not empty on both sides.
    assert len(expected[0]) > (20 if whose == "customer" else 3)
    assert len(expected[6]) == len(METRICS)
    assert sum(b["runs"] for b in expected[4]) >= (20 if whose == "customer" else 4)
    around = next(
        e
        for q, e in zip(questions, expected, strict=True)
        if q["ask"] == "run_outcomes" and q["since"] == EPOCH - timedelta(hours=1)
    )
    ended = sum(b["completed"] + b["failed"] + b["timed_out"] + b["cancelled"] for b in around)
    assert ended == (4 if whose == "customer" else 0)  # every run of fill_epoch


def test_the_sink_answers_nothing_of_another_customers_tasks(copied: Copied) -> None:
    """Scoped by the customer each row was copied with: the other's ids give nothing."""
    theirs = [
        q for q in _questions(copied.filled) if "metric_" in q["ask"] and q["ask"] != "metric_names"
    ]
    answers = probe(copied.sink_url, [_wire(q, copied.other) for q in theirs])
    assert all(answer in ({}, []) for answer in answers)


def _without_the_sink_note(page: str) -> str:
    """The insights page without what may differ between two servers: the sink's note."""
    page = re.sub(r"<p class=\"muted\" id=\"aggregates-from\">.*?</p>", "", page)
    return page


async def _database_page(copied: Copied, settings: Settings) -> str:
    app = create_app(settings.model_copy(update={"database_url": url_of(copied.source)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as browser:
            browser.cookies.set(COOKIE, copied.key)
            response = await browser.get("/insights", params={"range": "30d", "by": "agent"})
    assert response.status_code == 200
    return response.text


def _from_sink(page: str, pages: list[str]) -> bool:
    pages.append(page)
    return "Counted by the columnar sink" in page


def _served_page(base: str, key: str) -> str:
    response = httpx.get(
        f"{base}/insights",
        params={"range": "30d", "by": "agent"},
        cookies={COOKIE: key},
        timeout=60,
    )
    assert response.status_code == 200
    return response.text


@pytest.mark.slow
async def test_serve_with_a_chdb_sink_answers_insights_from_it_with_the_databases_numbers(
    copied: Copied, tmp_path: Path, test_settings: Settings
) -> None:
    env = environment(copied.source, copied.sink_url)
    pages: list[str] = []
    with serving(url_of(copied.source), tmp_path, env=env) as served:
        # The database answers until the server's worker thread has opened the sink and
        # caught up; then the sink does.
        wait_until(
            lambda: _from_sink(_served_page(served.base, copied.key), pages),
            120,
            "the sink to answer /insights",
        )
    page = pages[-1]
    assert _without_the_sink_note(page) == _without_the_sink_note(
        await _database_page(copied, test_settings)
    )


async def test_a_sink_that_is_down_leaves_insights_to_the_database(
    copied: Copied, tmp_path: Path, test_settings: Settings
) -> None:
    down = f"clickhouse://127.0.0.1:{free_port()}/flightlog"
    env = environment(copied.source, down)
    with serving(url_of(copied.source), tmp_path, env=env) as served:
        page = _served_page(served.base, copied.key)
        assert served.process.poll() is None
    assert "Counted by the columnar sink" not in page
    assert page == await _database_page(copied, test_settings)


async def test_a_sink_further_behind_than_the_limit_leaves_insights_to_the_database(
    copied: Copied, tmp_path: Path, test_settings: Settings
) -> None:
    """The worker caught up once, then pauses an hour: past half a second the sink is stale."""
    env = environment(copied.source, copied.sink_url)
    env.update({"FLIGHTLOG_SINK_POLL_SECONDS": "3600", "FLIGHTLOG_SINK_MAX_LAG_SECONDS": "0.5"})
    status = copied.sink / STATUS_FILE
    status.unlink(missing_ok=True)
    with serving(url_of(copied.source), tmp_path, env=env) as served:
        wait_until(status.exists, 120, "the server's first sink cycle")
        caught_up = datetime.fromisoformat(json.loads(status.read_text())["caught_up_at"])
        wait_until(lambda: datetime.now(UTC) - caught_up > timedelta(seconds=1), 10, "a second")
        page = _served_page(served.base, copied.key)
    assert "Counted by the columnar sink" not in page
    assert page == await _database_page(copied, test_settings)


@pytest.mark.sqlite_only
def test_serve_refuses_several_workers_with_a_chdb_sink(copied: Copied) -> None:
    env = environment(copied.source, copied.sink_url)
    done = flightlog(env, "serve", "--workers", "2", "--port", str(free_port()), timeout=120)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "is owned by one process, so flightlog serve runs one worker with it, not 2" in message
    assert "Traceback" not in done.stderr
