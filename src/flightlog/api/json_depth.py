"""A ceiling on how deeply a JSON request body nests, checked before it is parsed.

Python's JSON decoder recurses once per level, so a body of a few thousand
``[`` raises ``RecursionError`` deep inside the framework, and nesting that
the decoder survives would still be stored, then trip SQLite's JSON functions
(1,000 levels) or the next reader. No workflow data needs more than a few
dozen levels, so every JSON body deeper than :data:`MAX_JSON_DEPTH` is
refused with a 422 before any work is done.

The check runs at C speed on the raw bytes: everything but quotes and
brackets is deleted, strings are cut out (their brackets are text), and each pass
removes every innermost ``[]`` / ``{}`` pair, i.e. one level of every
subtree; what is left after ``MAX_JSON_DEPTH`` passes is nesting beyond it.
"""

from __future__ import annotations

import asyncio
import json
import re
from itertools import accumulate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightlog.api.errors import error_body

#: Levels of arrays and objects a request body may nest, the body itself included.
MAX_JSON_DEPTH = 64
#: Bodies larger than this are checked on a worker thread, off the event loop.
_CHECK_IN_THREAD_BYTES = 1 << 20

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_METHODS_WITH_BODIES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def nested_deeper_than(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays/objects more than ``limit`` levels deep.

    Text that is not JSON gets an answer too (brackets counted as written);
    the parser that runs next refuses it either way.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than the number of brackets it opens
    # Escaped backslashes, then escaped quotes, go first (left to right, as a parser
    # reads escapes); then only quotes and brackets are kept and strings cut out.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Split on quotes, every other piece is outside a string.
    brackets = b"".join(unescaped.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    too_deep = re.compile(rb"[\[{]{%d}" % (limit + 1))
    remaining = brackets
    for _ in range(limit):
        if not remaining:
            return False
        if too_deep.search(remaining):
            return True  # a run of openers longer than the limit settles it at once
        reduced = _INNERMOST_PAIR.sub(b"", remaining)
        if len(reduced) == len(remaining):
            # Unbalanced or mismatched: how deep a parser would go before it noticed.
            running = accumulate(1 if byte in b"[{" else -1 for byte in brackets)
            return max(running, default=0) > limit
        remaining = reduced
    return bool(remaining)


def _is_json(scope: Scope) -> bool:
    """A body FastAPI would parse as JSON: declared as JSON, or not declared at all."""
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return (
        not content_type or content_type == b"application/json" or content_type.endswith(b"+json")
    )


class JsonDepthLimit:
    """ASGI middleware: 422 for a JSON body nested deeper than ``max_depth``, before any work.

    It reads the body (the body-size ceiling, applied outside it, bounds
    that) and hands the same bytes on to the application.
    """

    def __init__(self, app: ASGIApp, *, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _METHODS_WITH_BODIES
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > _CHECK_IN_THREAD_BYTES:
            deep = await asyncio.to_thread(nested_deeper_than, body, self.max_depth)
        else:
            deep = nested_deeper_than(body, self.max_depth)
        if deep:
            await self._refuse(send)
            return
        await self.app(scope, _replay([body], None, receive), send)

    async def _refuse(self, send: Send) -> None:
        message = (
            f"invalid request: the JSON body nests deeper than {self.max_depth} levels "
            "of arrays and objects; flatten the data"
        )
        problems = [{"location": "body", "message": message}]
        payload = json.dumps(error_body("validation_error", message, {"problems": problems}))
        encoded = payload.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(encoded)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": encoded})


def _replay(bodies: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that yields the body already read, then defers to the real one."""
    pending: list[Message] = [
        {"type": "http.request", "body": body, "more_body": False} for body in bodies
    ]
    if last is not None:
        pending.append(last)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
