"""A ceiling on request bodies, enforced before the body is read into memory.

FastAPI reads a whole JSON body or upload into memory before the handler
runs, so without a ceiling one request could exhaust the server. Bodies that
declare a larger ``Content-Length`` are refused at once; chunked bodies are
counted as they arrive and cut off at the ceiling.

FastAPI's own ``max_body_size`` answers a declared oversized body in plain
text; this middleware keeps the one JSON error body every other error has.
Routes whose protocol prescribes another error body (the OTLP receivers must
answer a ``google.rpc.Status`` in the request's encoding) are passed through
as ``exempt`` and enforce the same ceiling themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightlog.api.errors import error_body
from flightlog.errors import PayloadTooLarge


class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when a streamed body passes the ceiling.

    An ``HTTPException``, because FastAPI lets only those through its body
    parser unchanged; the app's handler then answers 413 in the usual shape.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large(max_bytes))


def _too_large(max_bytes: int) -> str:
    return (
        f"the request body is over {max_bytes:,} bytes (FLIGHTLOG_API_MAX_BODY_BYTES); "
        "send large streams through the Python ingest path"
    )


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt: Iterable[tuple[str, str]] = ()
    ) -> None:
        """``exempt``: (method, path) of routes that enforce ``max_bytes`` themselves."""
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = error_body(PayloadTooLarge.code, _too_large(self.max_bytes))
        await send_error(send, 413, body)


async def send_error(send: Send, status: int, body: dict[str, Any]) -> None:
    """Answer from ASGI middleware, before the app runs, in the one error shape."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
