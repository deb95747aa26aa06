"""The outcome of an action, shown once on the page the person returns to.

An action answers with a 303 back to its page (so a reload does not post twice);
the outcome rides along in a short-lived cookie that the next page shows and
clears. Jinja escapes it like any other text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import Response

FLASH_COOKIE = "flightlog_flash"
#: Long enough to survive the redirect, short enough not to greet a later visit.
FLASH_SECONDS = 60
#: A cookie holds ~4 KB; an outcome is a sentence.
MAX_FLASH_CHARS = 600


@dataclass(frozen=True)
class Flash:
    kind: Literal["done", "error"]
    message: str

    @classmethod
    def done(cls, message: str) -> Flash:
        return cls("done", message)

    @classmethod
    def error(cls, message: str) -> Flash:
        return cls("error", message)


def _path(request: Request) -> str:
    prefix: str = request.scope.get("root_path", "")
    return prefix.rstrip("/") or "/"


def set_flash(response: Response, request: Request, flash: Flash) -> None:
    value = quote(json.dumps({"kind": flash.kind, "message": flash.message[:MAX_FLASH_CHARS]}))
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=_path(request),
    )


def clear_flash(response: Response, request: Request) -> None:
    """Shown once: the page that shows an outcome also deletes it."""
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=_path(request), httponly=True, samesite="lax")


def read_flash(request: Request) -> Flash | None:
    """The outcome waiting for this page, if any (a mangled cookie is none)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if raw is None:
        return None
    try:
        data = json.loads(unquote(raw))
        kind, message = data["kind"], str(data["message"])[:MAX_FLASH_CHARS]
    except (ValueError, KeyError, TypeError):
        return None
    return Flash(kind, message) if kind in ("done", "error") else None
