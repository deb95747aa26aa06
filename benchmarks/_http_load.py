"""The client side of ``benchmarks.http_writes``, run as a process of its own.

``python -m benchmarks._http_load --port P --key K --task T --clients C --requests N
--warmup W --label L`` sends one event per ``POST /api/v1/events`` from ``C``
concurrent keep-alive connections (asyncio tasks, one connection each) and
prints one JSON line: wall seconds of the timed part, every request's latency,
the acknowledged event ids, failures, and this process's CPU seconds.

A hand-written HTTP/1.1 client over asyncio streams rather than httpx: the
server and the client share the machine's cores, and httpx spends about
0.3 ms of CPU per request, which would come out of the server's share. This
one prebuilds every request's bytes before the clock starts and only reads
the status line, the headers and a ``Content-Length`` body per answer
(tens of microseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

PATH = "/api/v1/events"


def request_bytes(key: str, task_id: str, label: str, index: int) -> bytes:
    """One event in one request, as an agent logging a step sends it."""
    body = json.dumps(
        {
            "events": [
                {
                    "event_type": "LOG",
                    "task_id": task_id,
                    "agent_role": "Engineer",
                    "content": f"http bench {label} {index}: ran pytest on src/m{index % 50}.py",
                    "data": {"step": index, "tool": "bash", "ok": index % 13 != 0},
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding":
            raise RuntimeError("chunked answers are not expected from POST /api/v1/events")
    return status, await reader.readexactly(length)


async def _client(port: int, requests: Iterator[bytes], tally: Tally, timed: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:  # shared: each request is sent once, by whoever is free
            started = time.perf_counter()
            writer.write(request)
            status, body = await _answer(reader)
            if timed:
                tally.latencies.append(time.perf_counter() - started)
            if status == 201:
                tally.ids.extend(json.loads(body)["ids"])
            else:
                reason = f"{status} {body[:120].decode(errors='replace')}"
                tally.failures[reason] = tally.failures.get(reason, 0) + 1
    finally:
        writer.close()


async def run(port: int, prepared: Sequence[bytes], clients: int, warmup: int) -> dict[str, object]:
    tally = Tally()
    await asyncio.gather(*(_client(port, iter(prepared[:warmup]), tally, False) for _ in [0]))
    pending = iter(prepared[warmup:])
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, pending, tally, True) for _ in range(clients)))
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "seconds": seconds,
        "latencies_ms": [round(s * 1000, 3) for s in tally.latencies],
        "ids": tally.ids,
        "failures": tally.failures,
        "client_cpu_seconds": round(cpu, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._http_load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--label", default="run")
    args = parser.parse_args(argv)
    total = args.warmup + args.requests
    prepared = [request_bytes(args.key, args.task, args.label, i) for i in range(total)]
    result = asyncio.run(run(args.port, prepared, args.clients, args.warmup))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
