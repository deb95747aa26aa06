"""Signing in and out of the dashboard: a pasted API key, or a one-time link on this machine.

Either way the browser ends up holding an API key in an HttpOnly cookie. The link
(``GET /login/local?token=…``, printed by ``flightlog serve``) is redeemed only for a
request that comes straight from a loopback address; decision 0012 says why it is
redeemed on GET and what the loopback check does and does not prove.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import IPv6Address, ip_address
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flightlog.api.auth import context
from flightlog.api.context import ApiContext
from flightlog.errors import PermissionDenied
from flightlog.ops.demo import DEMO_EMAIL
from flightlog.services.customers import DEFAULT_CUSTOMER_EMAIL
from flightlog.services.local_sign_in import SignInRefused, redeem
from flightlog.web.session import (
    SESSION_SECONDS,
    end_session,
    page,
    root,
    safe_next,
    same_origin,
    set_session,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
#: Sign-in forms are tiny; a larger body is not a browser's.
_MAX_FORM_BYTES = 4096
#: Headers a proxy adds: behind one, every request would come from loopback.
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
#: What a refused link answers, by the service's reason.
_REFUSED_STATUS = {"unknown": 404, "used": 410, "expired": 410}


def _login_page(
    request: Request,
    status: int = 200,
    *,
    next_path: str = "/",
    error: str | None = None,
    refused: str | None = None,
) -> Response:
    context = {
        "next": next_path,
        "error": error,
        "refused": refused,
        "demo_email": DEMO_EMAIL,
        "default_email": DEFAULT_CUSTOMER_EMAIL,
    }
    response = page(request, "login.html", context, status)
    # The page may sit at a URL holding a token: never send it on, never keep it.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, next_path=safe_next(next))


def not_from_this_machine(request: Request) -> str | None:
    """Why the request cannot be taken to come from this machine, or None when it does.

    The connection's peer must be a loopback address, and the request must carry no
    proxy header: a proxy on this machine connects from loopback for everyone it
    forwards, and its headers are what give it away.
    """
    present = [name for name in _FORWARDING_HEADERS if name in request.headers]
    if present:
        return (
            f"this request came through a proxy ({present[0]} header), so it cannot be told "
            "to come from this machine; sign in with an API key instead"
        )
    host = request.client.host if request.client is not None else ""
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is None or not address.is_loopback:
        return (
            f"a sign-in link works only in a browser on the machine the server runs on "
            f"(this request came from {host or 'an unknown address'}); sign in with an API key"
        )
    return None


@router.get("/login/local")
async def local_sign_in(
    request: Request, ctx: Annotated[ApiContext, Depends(context)], token: str = ""
) -> Response:
    """Redeem a one-time link from this machine: a new read+write key in the cookie, then /."""
    refusal = not_from_this_machine(request)
    if refusal is not None:
        return _login_page(request, 403, error=refusal, refused="elsewhere")
    try:
        async with ctx.sessions() as session, session.begin():
            created = await session.run_sync(
                redeem, token, key_lifetime=timedelta(seconds=SESSION_SECONDS)
            )
    except SignInRefused as exc:
        return _login_page(
            request, _REFUSED_STATUS.get(exc.reason, 400), error=exc.message, refused=exc.reason
        )
    try:
        await ctx.keys.verify(created.key)  # a suspended customer: say so here, not on /
    except PermissionDenied as exc:
        return _login_page(request, 403, error=exc.message, refused="customer")
    response = RedirectResponse(f"{root(request)}/", status_code=303)
    set_session(response, request, created.key)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


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
        return _login_page(request, 401, next_path=target, error=exc.message)
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
