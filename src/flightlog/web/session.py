"""Who is looking at the dashboard: the API key in the session cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.errors import PermissionDenied
from flightlog.store.core import Store

COOKIE = "flightlog_key"
SESSION_SECONDS = 8 * 3600
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class LoginRequired(Exception):
    """No valid key in the cookie: send the browser to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(path: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


async def dashboard_store(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> Store:
    key = request.cookies.get(COOKIE)
    if not key:
        raise LoginRequired(request.url.path)
    try:
        verified = await ctx.keys.verify(key)
    except PermissionDenied:
        raise LoginRequired(request.url.path) from None
    return ctx.store_for(verified.customer_id)


DashboardStore = Annotated[Store, Depends(dashboard_store)]


async def redirect_to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    response = RedirectResponse(f"/login?next={quote(safe_next(exc.next_path))}", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def render_error(request: Request, status: int, message: str) -> Response:
    """A page, not JSON, for errors met while browsing."""
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )
