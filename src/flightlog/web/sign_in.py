"""Signing in and out of the dashboard: a pasted API key, kept in an HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.errors import PermissionDenied
from flightlog.web.session import end_session, page, root, safe_next, same_origin, set_session

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
#: Sign-in forms are tiny; a larger body is not a browser's.
_MAX_FORM_BYTES = 4096


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    return page(request, "login.html", {"next": safe_next(next)})


def _refuse(request: Request, status: int, message: str) -> Response:
    return page(request, "error.html", {"status": status, "message": message}, status)


@router.post("/login")
async def login(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    """Check the pasted key, then keep it in an HttpOnly cookie."""
    if not same_origin(request):
        return _refuse(request, 403, "this form must be sent from the Flightlog dashboard itself")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_FORM_BYTES:
        return _refuse(request, 413, "a sign-in form is a few hundred bytes; this one is not")
    raw = await request.body()
    form = parse_qs(raw[:_MAX_FORM_BYTES].decode(errors="replace"))
    key = (form.get("key") or [""])[0].strip()
    target = safe_next((form.get("next") or ["/"])[0])
    try:
        await ctx.keys.verify(key)
    except PermissionDenied as exc:
        return page(request, "login.html", {"next": target, "error": exc.message}, 401)
    response = RedirectResponse(f"{root(request)}{target}", status_code=303)
    set_session(response, request, key)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    if not same_origin(request):
        return _refuse(request, 403, "this form must be sent from the Flightlog dashboard itself")
    response = RedirectResponse(f"{root(request)}/login", status_code=303)
    end_session(response, request)
    return response
