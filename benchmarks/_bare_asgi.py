"""What the benchmarks' bare ASGI ceilings share: the lifespan, the body, and serving
with ``flightlog serve``'s listeners (``benchmarks._http_ceiling``, ``benchmarks._otlp_ceiling``).
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from flightlog.cli.worker_listeners import serve_workers


async def lifespan(
    receive: Any,
    send: Any,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    """Answer the server's startup and shutdown messages, running ``start`` and ``stop``."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def body(receive: Any) -> bytes:
    """The request's whole body."""
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def respond(send: Any, status: int, content: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def main(module: str, app: Any) -> None:
    """``python -m <module> --port P [--workers N]``: ``app`` (``<module>:app``) on loopback."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
        return
    config = uvicorn.Config(
        f"{module}:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
    )
    serve_workers(config)


def sqlite_connection(target: str, busy_ms: int, cache_mib: int) -> sqlite3.Connection:
    """A ``sqlite3`` connection with Flightlog's pragmas (autocommit: BEGIN is explicit)."""
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
    return conn


async def close(state: dict[str, Any]) -> None:
    """Close what a ceiling opened at startup: its ``conn`` (SQLite) or ``pool`` (asyncpg)."""
    if "conn" in state:
        state["conn"].close()
    if "pool" in state:
        await state["pool"].close()


#: What a ceiling does with a request's body: (status, response body).
Handler = Callable[[bytes], Awaitable[tuple[int, bytes]]]


def asgi_app(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    handle: Handler,
    content_type: bytes,
) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """A bare ASGI app: ``start``/``stop`` at its lifespan's ends, 200 to a GET (the
    readiness probe), and every other request's body to ``handle``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, start, stop)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            await respond(send, 200, b"", content_type)
            return
        status, content = await handle(await body(receive))
        await respond(send, status, content, content_type)

    return app
