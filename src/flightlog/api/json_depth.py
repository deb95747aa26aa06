"""A ceiling on how deeply a JSON request body nests, checked before it is parsed.

Python's JSON decoder recurses once per level, so a body of a few thousand
``[`` raises ``RecursionError`` deep inside the framework, and nesting that
the decoder survives would still be stored, then trip SQLite's JSON functions
(1,000 levels) or the next reader. No workflow data needs more than a few
dozen levels, so every JSON body deeper than :data:`MAX_JSON_DEPTH` is
refused with a 422 before any work is done. JSON must also be UTF-8 (RFC
8259): the scan reads bytes, and a UTF-16 body would hide its brackets.

The scan is linear in the body: C-level byte operations delete everything
but quotes and brackets and cut out strings (their brackets are text), a few
passes drop the innermost levels (most real data vanishes here), and a
running sum over what is left finds the deepest point. A very large body is
summed a slice at a time, letting other requests run between slices.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from itertools import accumulate

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightlog.api.errors import error_body
from flightlog.api.limits import send_error

#: Levels of arrays and objects a request body may nest, the body itself included.
MAX_JSON_DEPTH = 64
#: Brackets summed between two chances for the event loop to serve others (~50 ms).
_SLICE = 1 << 20

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_PARENTHESES = bytes.maketrans(b"[{]}", b"(())")
_STEP = tuple(1 if b == ord("(") else -1 if b == ord(")") else 0 for b in range(256))
#: Cheap passes that drop the innermost level before the running sum.
_PASSES = 8
_METHODS_WITH_BODIES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UTF8 = frozenset({"utf-8", "utf-8-sig"})


def _scan(body: bytes, limit: int) -> Iterator[bool | None]:
    """Yield None between slices of work, then whether ``body`` nests deeper than ``limit``."""
    if body.count(b"[") + body.count(b"{") <= limit:
        yield False  # it cannot nest deeper than the number of brackets it opens
        return
    # Escaped backslashes, then escaped quotes, go first (left to right, as a parser
    # reads escapes); then only quotes and brackets are kept, and splitting on quotes
    # leaves the text outside strings at every other piece. Depth does not care
    # which kind of bracket it is, so both become parentheses.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = unescaped.translate(_PARENTHESES, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[::2])
    # A few passes drop every innermost "()", one level of every subtree each: real
    # data is shallow and mostly vanishes. A position that survives keeps its exact
    # depth, and what was dropped lay at most ``passes`` levels below a survivor.
    passes = 0
    while passes < _PASSES and brackets:
        if b"(" * (limit + 1 - passes) in brackets:
            yield True  # a run of openers past the limit settles it at once
            return
        shallower = brackets.replace(b"()", b"")
        if len(shallower) == len(brackets):
            break
        brackets, passes = shallower, passes + 1
    depth, allowed = 0, limit - passes
    for start in range(0, len(brackets), _SLICE):
        piece = brackets[start : start + _SLICE]
        if max(accumulate(map(_STEP.__getitem__, piece), initial=depth)) > allowed:
            yield True
            return
        depth += 2 * piece.count(b"(") - len(piece)
        yield None
    yield False


def nested_deeper_than(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays/objects more than ``limit`` levels deep.

    Text that is not JSON gets an answer too (brackets counted as written, so
    an unclosed ``[[[…`` is as deep as a parser would go before noticing);
    the parser that runs next refuses it either way.
    """
    return next(verdict for verdict in _scan(body, limit) if verdict is not None)


async def _nested_deeper_than_async(body: bytes, limit: int) -> bool:
    for verdict in _scan(body, limit):
        if verdict is not None:
            return verdict
        await asyncio.sleep(0)
    raise AssertionError("unreachable: the scan always ends with a verdict")


def _declared_type(scope: Scope) -> bytes:
    headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
    return headers.get(b"content-type", b"").split(b";")[0].strip().lower()


def _is_json(content_type: bytes) -> bool:
    """A body FastAPI parses as JSON: declared as JSON, or not declared at all."""
    return (
        not content_type or content_type == b"application/json" or content_type.endswith(b"+json")
    )


class JsonDepthLimit:
    """ASGI middleware: 422 for a JSON body nested deeper than ``max_depth``, before any work.

    It reads the body (the body-size ceiling, applied outside it, bounds
    that) and hands the same bytes on to the application. ``raw_body_routes``
    are ``(method, path)`` pairs whose body is content of any type (artifact
    uploads); their bodies are never taken for JSON.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raw_body_routes: Sequence[tuple[str, str]] = (),
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_depth = max_depth
        self._raw = [(method, compile_path(path)[0]) for method, path in raw_body_routes]

    def _applies(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODIES:
            return False
        if not _is_json(_declared_type(scope)):
            return False
        path, root = scope["path"], scope.get("root_path", "")
        path = path[len(root) :] if root and path.startswith(root) else path
        return not any(scope["method"] == m and regex.match(path) for m, regex in self._raw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
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
        if body and json.detect_encoding(body) not in _UTF8:
            await _refuse(send, "invalid request: the request body is not JSON: it must be UTF-8")
            return
        if await _nested_deeper_than_async(body, self.max_depth):
            await _refuse(
                send,
                f"invalid request: the JSON body nests deeper than {self.max_depth} levels "
                "of arrays and objects; flatten the data",
            )
            return
        await self.app(scope, _replay([body], None, receive), send)


async def _refuse(send: Send, message: str) -> None:
    problems = [{"location": "body", "message": message}]
    await send_error(send, 422, error_body("validation_error", message, {"problems": problems}))


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
