"""The client side of ``benchmarks.workers``, run as a process of its own.

``python -m benchmarks._mixed_load --port P --plan PLAN.json --clients C --warmup W``

``PLAN.json`` holds the API key and the requests in the order they are sent:
``["write", task_id, index]`` (one event per ``POST /api/v1/events``, the body
of ``benchmarks._http_load``) or ``[kind, path]`` (a ``GET`` of ``path``, e.g.
``["tasks", "/api/v1/tasks?limit=50"]``). ``C`` keep-alive connections are
opened, the server side of each is looked up in ``/proc`` (which worker
process holds it), and the first ``W`` requests go over all of them as a
warm-up (the workers' pools open their database connections). It then
prints ``{"ready": true, "connections_by_pid": ...}`` and waits for a line on
standard input (the parent samples CPU meanwhile); only then does the
clock start: each connection sends the next request as soon as its answer is in.

Then prints one JSON line: wall seconds of the timed part, every timed request's
latency by kind, the acknowledged event ids, failures (status and the start of
the body) by kind, the connections each server process held, and this
process's CPU seconds. Hand-written HTTP/1.1 over asyncio streams, as in
``_http_load`` and for the same reason (httpx's CPU would come out of the
server's share of the two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._http_load import _answer, request_bytes


def get_bytes(key: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n".encode()


def prepared(plan: dict[str, Any], label: str) -> list[tuple[str, bytes]]:
    """Every request's bytes, built before anything is sent."""
    key = plan["key"]
    out = []
    for entry in plan["requests"]:
        if entry[0] == "write":
            out.append(("write", request_bytes(key, entry[1], label, entry[2])))
        else:
            out.append((entry[0], get_bytes(key, entry[1])))
    return out


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


async def _send(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    requests: Iterator[tuple[str, bytes]],
    tally: Tally,
    timed: bool,
) -> None:
    for kind, request in requests:  # shared: each request is sent once, by whoever is free
        started = time.perf_counter()
        writer.write(request)
        status, body = await _answer(reader)
        if timed:
            tally.latencies.setdefault(kind, []).append(time.perf_counter() - started)
        if kind == "write" and status == 201:
            tally.ids.extend(json.loads(body)["ids"])
        elif status != (201 if kind == "write" else 200):
            reason = f"{kind}: {status} {body[:120].decode(errors='replace')}"
            tally.failures[reason] = tally.failures.get(reason, 0) + 1


def holders(server_port: int, client_ports: set[int]) -> dict[str, int]:
    """How many of these connections each process holds the server side of (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == server_port and (
                int(remote.rsplit(":", 1)[1], 16) in client_ports
            ):
                inodes.add(f"socket:[{fields[9]}]")
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        held = sum(1 for target in targets if target in inodes)
        if held:
            found[entry.name] = held
    return found


async def run(
    port: int, requests: Sequence[tuple[str, bytes]], clients: int, warmup: int
) -> dict[str, object]:
    tally = Tally()
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]
    ports = {w.get_extra_info("sockname")[1] for _, w in connections}
    # Wait until every connection is accepted by some process (the kernel completes the
    # handshake before a worker accepts it), so the split is the one the load will see.
    deadline = time.monotonic() + 30
    split = holders(port, ports)
    while sum(split.values()) < clients and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        split = holders(port, ports)
    # The warm-up goes over every connection at once, so that each worker's pool has
    # opened the connections the load will use before the clock starts.
    warm = iter(requests[:warmup])
    await asyncio.gather(*(_send(r, w, warm, tally, False) for r, w in connections))
    # Ready: the parent samples every process's CPU now, then says go.
    sys.stdout.write(json.dumps({"ready": True, "connections_by_pid": split}) + "\n")
    sys.stdout.flush()
    sys.stdin.readline()
    pending = iter(requests[warmup:])
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    await asyncio.gather(*(_send(r, w, pending, tally, True) for r, w in connections))
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for _, w in connections:
        w.close()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "seconds": seconds,
        "latencies_ms": {k: [round(s * 1000, 3) for s in v] for k, v in tally.latencies.items()},
        "ids": tally.ids,
        "failures": tally.failures,
        "connections_by_pid": split,
        "client_cpu_seconds": round(cpu, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._mixed_load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--label", default="run")
    args = parser.parse_args(argv)
    requests = prepared(json.loads(args.plan.read_text()), args.label)
    result = asyncio.run(run(args.port, requests, args.clients, args.warmup))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
