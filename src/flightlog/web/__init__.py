"""The dashboard: server-rendered pages over the same Store as the APIs.

Signing in takes an API key (a ``read`` key is enough to look, ``write`` to act);
the key is kept in an HttpOnly, SameSite=Lax cookie and checked on every page like
an API request. Each module holds one area's routes; :func:`install` puts them, the
static files and the sign-in redirect on an app.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


#: The dashboard's areas, one module and router each, in the order their routes match.
AREAS = ("sign_in", "pages", "tasks", "timeline", "browse", "actions", "live", "insights")


def import_areas() -> list[ModuleType]:
    """The areas' modules, imported (they are only when a dashboard is served)."""
    return [importlib.import_module(f"flightlog.web.{area}") for area in AREAS]


def router() -> APIRouter:
    """Every dashboard page, one router per area."""
    combined = APIRouter()
    for module in import_areas():
        combined.include_router(module.router)
    return combined


def install(app: FastAPI) -> None:
    """Add the dashboard's pages, its static files and its error pages to ``app``."""
    from flightlog.web.session import LoginRequired, redirect_to_login, render_error

    app.include_router(router())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, redirect_to_login)
    app.state.render_error = render_error
