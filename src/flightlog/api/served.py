"""The app each ``flightlog serve --workers N`` process builds for itself.

An app object made in the parent is not handed to the workers: uvicorn names
the app to each worker, which calls :func:`app_from_environment` and builds
its own app, engine and pool. The workers are forked once the parent has
imported what an app needs (:func:`preload`, and
:func:`flightlog.cli.worker_listeners.forked_workers`), so building it is all
that is left to them; where they cannot be forked they are spawned and import
it all themselves. The parent has already
resolved the settings (environment, ``--database-url``, checked the schema is
at head); rather than let each worker resolve them again from a possibly
different environment, the parent passes the exact resolved settings as JSON
in one environment variable, which every worker inherits. One
variable, not one per setting, so a setting added later travels without
anyone remembering to pass it.

A worker dies with the process that started it (Linux): uvicorn's parent stops
its workers when it is asked to stop, but a parent killed outright (the OOM
killer, ``kill -9``, a crash) would otherwise leave them serving on the port,
orphaned, holding database connections, where nobody stops them.
"""

from __future__ import annotations

import os
import signal
import sys

from fastapi import FastAPI
from pydantic import ValidationError as PydanticValidationError

from flightlog.errors import ConfigurationError
from flightlog.settings import Settings, get_settings

#: The resolved settings, as JSON, from ``flightlog serve`` to its worker processes.
#: Not ``FLIGHTLOG_``-prefixed like a setting: it is not one, and a user should not set it.
SETTINGS_VARIABLE = "_FLIGHTLOG_SERVE_SETTINGS"
#: The pid of ``flightlog serve``, so a worker can tell whether it has outlived it.
PARENT_VARIABLE = "_FLIGHTLOG_SERVE_PARENT"
#: What uvicorn imports in each worker (with ``factory=True``).
FACTORY = "flightlog.api.served:app_from_environment"


def settings_to_environment(settings: Settings) -> None:
    """Put ``settings`` where the workers started after this call will find them."""
    os.environ[SETTINGS_VARIABLE] = settings.model_dump_json()
    os.environ[PARENT_VARIABLE] = str(os.getpid())


def settings_from_environment() -> Settings:
    """The settings ``flightlog serve`` passed, else the environment's own (a manual start)."""
    passed = os.environ.get(SETTINGS_VARIABLE)
    if not passed:
        return get_settings()
    try:
        # model_validate, not Settings(...): the values are already resolved, and must
        # not be mixed with the environment a second time.
        return Settings.model_validate_json(passed)
    except PydanticValidationError:
        # Not pydantic's report: it would quote the values, the database URL's password too.
        raise ConfigurationError(
            f"{SETTINGS_VARIABLE} does not hold valid settings; "
            "it is set by 'flightlog serve' for its workers: unset it"
        ) from None


def app_from_environment() -> FastAPI:
    """uvicorn's app factory for one worker: its own app, its own engine and pool."""
    die_with_parent()
    return serving_app(settings_from_environment())


def serving_app(settings: Settings) -> FastAPI:
    """The app of a process that serves it until it exits (each worker, or the one process).

    Its heap as started is kept out of the garbage collector's full collections
    (:mod:`flightlog.api.heap`).
    """
    from flightlog.api.app import create_app

    return create_app(settings, freeze_heap_at_start=True)


def preload() -> None:
    """Import what building a serving app imports lazily, so that forked workers have it.

    The dashboard's modules, its session handling and the drivers' error classes are
    imported when an app is built, not with this module, so that commands and
    embedders that never serve the dashboard do not pay for them.
    """
    from flightlog import web
    from flightlog.db.failures import driver_errors
    from flightlog.web import session

    web.import_areas()
    driver_errors()
    del session


def die_with_parent() -> None:
    """Have the kernel kill this worker when ``flightlog serve`` is gone (Linux only).

    SIGKILL, not SIGTERM: the parent only vanishes without stopping its workers
    when it was killed or crashed, and a server that crashed should stop
    answering at once, not finish a graceful shutdown on its own.
    """
    parent = os.environ.get(PARENT_VARIABLE)
    if not sys.platform.startswith("linux") or not parent:
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if str(os.getppid()) != parent:  # the parent died before the line above took effect
        os._exit(1)
