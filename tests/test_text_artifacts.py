"""Seed 000 stores reports, logs and configs as text: an artifact's content may be a ``str``.

Text is stored as UTF-8 and typed ``text/plain; charset=utf-8`` unless the
caller names a type; bytes keep ``application/octet-stream``. The Store, the
synchronous Store and the HTTP client behave alike. Both dialects.
"""

from __future__ import annotations

import httpx
import pytest

from api_client import app_for
from flightlog import ValidationError
from flightlog.client import AsyncClient
from flightlog.store import Store, SyncStore

REPORT = "# Analysis Report\n\nMarket grew 12 % — naïve forecast: ✓\n"


async def test_seed000_a_text_artifact_is_stored_as_utf8_text(store: Store) -> None:
    task = await store.tasks.create(title="Market Analysis")
    report = await store.artifacts.put(
        task.id, "analysis_report.md", REPORT, artifact_type="report", file_path="/reports/r.md"
    )
    assert report.content_type == "text/plain; charset=utf-8"
    assert report.size_bytes == len(REPORT.encode("utf-8"))
    assert await store.artifacts.read(report.id) == REPORT.encode("utf-8")

    told = await store.artifacts.put(task.id, "notes.md", "# notes", content_type="text/markdown")
    assert told.content_type == "text/markdown"
    also = await store.artifacts.put(
        task.id, "page.html", "<p>é</p>", content_type="text/html; charset=UTF-8"
    )
    assert also.content_type == "text/html; charset=UTF-8"
    assert await store.artifacts.read(also.id) == "<p>é</p>".encode()

    raw = await store.artifacts.put(task.id, "blob.bin", b"\x00\x01")
    assert raw.content_type == "application/octet-stream"
    empty = await store.artifacts.put(task.id, "empty.txt", "")
    assert (empty.size_bytes, await store.artifacts.read(empty.id)) == (0, b"")
    # The same text twice is one blob, the second a new version of the name.
    again = await store.artifacts.put(task.id, "analysis_report.md", REPORT, artifact_type="report")
    assert (again.version, again.sha256) == (2, report.sha256)


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        ("caf\udce9", None, "cannot be stored as UTF-8"),
        ("café", "text/plain; charset=latin-1", "cannot name another charset"),
        ("x", "", "content_type must be 1 to 255"),
        ("x", "t" * 256, "content_type must be 1 to 255"),
        ("x", "text/plain\r\nX-Evil: 1", "control characters"),
        (12345, None, "must be bytes or str"),
    ],
)
async def test_seed000_bad_text_artifacts_are_refused_and_nothing_is_stored(
    store: Store, content: object, content_type: str | None, message: str
) -> None:
    task = await store.tasks.create(title="bad text")
    with pytest.raises(ValidationError, match=message):
        await store.artifacts.put(
            task.id,
            "report.txt",
            content,  # type: ignore[arg-type]
            content_type=content_type,
        )
    assert await store.artifacts.latest(task.id) == []


def test_seed000_the_sync_store_takes_text_artifacts(sync_store: SyncStore) -> None:
    task = sync_store.tasks.create(title="sync text")
    log = sync_store.artifacts.put(task.id, "run.log", "line 1\nline 2\n", artifact_type="log")
    assert log.content_type == "text/plain; charset=utf-8"
    assert sync_store.artifacts.read(log.id) == b"line 1\nline 2\n"


async def test_seed000_the_http_client_sends_text_artifacts_as_utf8(store: Store) -> None:
    key = (await store.api_keys.create("client")).key
    transport = httpx.ASGITransport(app=app_for(store))
    async with AsyncClient("http://flightlog.test", key, transport=transport) as fl:
        task = await fl.tasks.create(title="remote text")
        out = await fl.artifacts.put(task.id, "summary.md", REPORT, artifact_type="report")
        assert out.content_type == "text/plain; charset=utf-8"
        assert out.size_bytes == len(REPORT.encode("utf-8"))
        assert await fl.artifacts.read(out.id) == REPORT.encode("utf-8")
        typed = await fl.artifacts.put(
            task.id, "c.json", '{"a": 1}', content_type="application/json"
        )
        assert typed.content_type == "application/json"
        with pytest.raises(ValidationError, match="another charset"):
            await fl.artifacts.put(task.id, "x.txt", "x", content_type="text/plain; charset=ascii")
        assert [a.name for a in await fl.artifacts.latest(task.id)] == ["c.json", "summary.md"]
