"""A serving process keeps what it built to start out of the collector's full collections.

``flightlog serve`` builds its app with :func:`flightlog.api.served.serving_app`, in
its one process and in each ``--workers`` process (:func:`app_from_environment`).
Once started, that app's process has collected startup's garbage and frozen the
rest (:mod:`flightlog.api.heap`); an app made by ``create_app`` alone, as tests
and embedders make and drop them, leaves the collector as it was.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from cli_runner import url_of
from flightlog.api import create_app
from flightlog.api.served import SETTINGS_VARIABLE, app_from_environment, serving_app
from flightlog.db.urls import DatabaseUrl
from flightlog.settings import Settings


class _Cycle:
    """An object that refers to itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def _garbage_cycle() -> weakref.ref[_Cycle]:
    return weakref.ref(_Cycle())


@pytest.fixture
def collector_by_hand() -> Iterator[None]:
    """No automatic collection during the test, nothing frozen before or after it."""
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def _settings(test_settings: Settings, db_url: DatabaseUrl) -> Settings:
    return test_settings.model_copy(update={"database_url": url_of(db_url)})


async def test_a_serving_app_collects_then_freezes_its_heap_once_started(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings, collector_by_hand: None
) -> None:
    app = serving_app(_settings(test_settings, db_url))
    garbage = _garbage_cycle()
    assert gc.get_freeze_count() == 0
    assert garbage() is not None
    async with app.router.lifespan_context(app):
        # The app, its engine, models and schemas: tens of thousands of objects.
        assert gc.get_freeze_count() > 10_000
        # Startup's garbage was collected before the freeze, not kept for good.
        assert garbage() is None


async def test_each_worker_builds_a_serving_app(
    dialect: str,
    db_url: DatabaseUrl,
    test_settings: Settings,
    collector_by_hand: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SETTINGS_VARIABLE, _settings(test_settings, db_url).model_dump_json())
    app = app_from_environment()
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000


async def test_an_app_made_by_create_app_leaves_the_collector_alone(
    dialect: str, db_url: DatabaseUrl, test_settings: Settings, collector_by_hand: None
) -> None:
    app = create_app(_settings(test_settings, db_url))
    garbage = _garbage_cycle()
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
        assert garbage() is not None
    gc.collect()
    assert garbage() is None
