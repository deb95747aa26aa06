"""Artifacts in the dashboard: previewed safely and bounded, downloaded byte for byte (issue 14).

Text shows as escaped text, JSON pretty-printed, raster images inline through an
``<img>`` of the image route; an HTML or SVG artifact is never rendered (its source
is shown as text, its download is an attachment typed text/plain); every answer
carrying content says nosniff and sandboxes it. Another customer's artifact is a
404 page on every route.
"""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import pytest

from dashboard_browsing import html, signed_in
from flightlog.store import Store
from flightlog.web.artifacts import PREVIEW_MAX_BYTES, PREVIEW_MAX_CHARS


def _png() -> bytes:
    """A 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def _put(store: Store, name: str, content: bytes, content_type: str) -> uuid.UUID:
    task = await store.tasks.create(title="has artifacts")
    return (await store.artifacts.put(task.id, name, content, content_type=content_type)).id


def _preview(page: str) -> str:
    start = page.index('<div class="artifact-preview"')
    return page[start : page.index("</div>", start)]


async def test_text_and_json_are_previewed_escaped_and_json_pretty(store: Store) -> None:
    text_id = await _put(store, "notes.txt", b"line one\n<b>bold?</b>\n", "text/plain")
    data = {"plan": ["a", "b"], "n": 1, "html": "<i>x</i>"}
    json_id = await _put(store, "out/result.json", json.dumps(data).encode(), "application/json")
    broken_id = await _put(store, "broken.json", b'{"a": ', "application/json")
    async with signed_in(store) as browser:
        text = _preview(await html(browser, f"/artifacts/{text_id}"))
        pretty = _preview(await html(browser, f"/artifacts/{json_id}"))
        broken = _preview(await html(browser, f"/artifacts/{broken_id}"))
    assert 'data-preview="text"' in text
    assert "line one\n&lt;b&gt;bold?&lt;/b&gt;" in text
    assert "<b>" not in text
    assert 'data-preview="json"' in pretty
    expected = json.dumps(data, indent=2).replace("<", "&lt;").replace(">", "&gt;")
    assert expected.replace('"', "&#34;") in pretty
    assert 'data-preview="text"' in broken
    assert "not valid JSON" in broken


async def test_an_image_is_shown_inline_from_the_image_route(store: Store) -> None:
    png = _png()
    image_id = await _put(store, "shots/chart.png", png, "image/png")
    async with signed_in(store) as browser:
        preview = _preview(await html(browser, f"/artifacts/{image_id}"))
        assert f'<img class="artifact-image" src="/artifacts/{image_id}/image"' in preview
        inline = await browser.get(f"/artifacts/{image_id}/image")
    assert inline.status_code == 200
    assert inline.content == png
    assert inline.headers["content-type"] == "image/png"
    assert inline.headers["content-disposition"] == (
        "inline; filename=\"chart.png\"; filename*=UTF-8''chart.png"
    )
    assert inline.headers["x-content-type-options"] == "nosniff"


async def test_a_download_is_the_bytes_with_exact_headers(store: Store) -> None:
    content = bytes(range(256)) * 4
    blob_id = await _put(store, 'dir/Résumé "final".bin', content, "application/x-custom")
    async with signed_in(store) as browser:
        got = await browser.get(f"/artifacts/{blob_id}/download")
    artifact = await store.artifacts.get(blob_id)
    assert got.status_code == 200
    assert got.content == content
    assert {
        k: got.headers[k]
        for k in (
            "content-type",
            "content-disposition",
            "x-content-type-options",
            "content-security-policy",
            "cache-control",
            "etag",
            "content-length",
        )
    } == {
        "content-type": "application/x-custom",
        "content-disposition": (
            'attachment; filename="R_sum_ _final_.bin"; '
            "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.bin"
        ),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox",
        "cache-control": "private, no-cache",
        "etag": f'"{artifact.sha256}"',
        "content-length": str(len(content)),
    }


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("page.html", "text/html"),
        ("page.html", "text/html; charset=utf-8"),
        ("logo.svg", "image/svg+xml"),
        ("feed.xml", "application/atom+xml"),
        ("x.js", "text/javascript"),
        # A type with CR/LF in it is refused when stored (tests/test_text_artifacts.py), so
        # the odd type that reaches the dashboard is one that merely names no real type.
        ("odd", "not a type; x=<script>"),
    ],
)
async def test_active_content_is_never_rendered(store: Store, name: str, content_type: str) -> None:
    payload = (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    )
    artifact_id = await _put(store, name, payload, content_type)
    async with signed_in(store) as browser:
        page = await html(browser, f"/artifacts/{artifact_id}")
        download = await browser.get(f"/artifacts/{artifact_id}/download")
        image = await browser.get(f"/artifacts/{artifact_id}/image")
    assert "<script>alert(2)" not in page
    assert "<svg" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in _preview(page)
    assert download.content == payload
    assert download.headers["content-type"] in (
        "text/plain; charset=utf-8",
        "application/octet-stream",
    )
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "sandbox"
    assert "x-injected" not in download.headers
    assert image.status_code == 415  # never served inline, not even as an image
    assert image.headers["content-type"].startswith("text/html")
    assert "<svg" not in image.text


async def test_previews_are_bounded(store: Store) -> None:
    long_text = ("word " * (PREVIEW_MAX_CHARS // 5 + 100)).encode()
    assert len(long_text) <= PREVIEW_MAX_BYTES
    huge = b"x" * (PREVIEW_MAX_BYTES + 1)
    binary = bytes([0, 159, 146, 150]) * 10
    long_id = await _put(store, "long.txt", long_text, "text/plain")
    huge_id = await _put(store, "huge.txt", huge, "text/plain")
    binary_id = await _put(store, "blob.bin", binary, "application/octet-stream")
    async with signed_in(store) as browser:
        long_page = _preview(await html(browser, f"/artifacts/{long_id}"))
        huge_page = _preview(await html(browser, f"/artifacts/{huge_id}"))
        binary_page = _preview(await html(browser, f"/artifacts/{binary_id}"))
        huge_download = await browser.get(f"/artifacts/{huge_id}/download")
    assert "The first 100,000 characters are shown" in long_page
    assert long_page.count("word") <= PREVIEW_MAX_CHARS // 5 + 1
    assert 'data-preview="too_large"' in huge_page
    assert "xxxx" not in huge_page
    assert 'data-preview="none"' in binary_page
    assert huge_download.content == huge  # the download is whole


async def test_versions_link_to_each_other_and_the_task_page_links_both(store: Store) -> None:
    task = await store.tasks.create(title="versions")
    first = await store.artifacts.put(task.id, "plan.md", b"v1", content_type="text/markdown")
    second = await store.artifacts.put(task.id, "plan.md", b"v2", content_type="text/markdown")
    async with signed_in(store) as browser:
        task_page = await html(browser, f"/tasks/{task.id}")
        page = await html(browser, f"/artifacts/{second.id}")
    assert f'href="/artifacts/{second.id}"' in task_page
    assert f'href="/artifacts/{second.id}/download"' in task_page
    assert f'href="/artifacts/{first.id}">v1</a>' in page
    assert "v2 (this one)" in page


async def test_another_customers_artifact_is_missing_everywhere(store: Store, other: Store) -> None:
    task = await other.tasks.create(title="theirs")
    theirs = await other.artifacts.put(task.id, "secret.png", _png(), content_type="image/png")
    async with signed_in(store) as browser:
        for suffix in ("", "/download", "/image"):
            foreign = await browser.get(f"/artifacts/{theirs.id}{suffix}")
            missing = await browser.get(f"/artifacts/{uuid.uuid4()}{suffix}")
            assert foreign.status_code == missing.status_code == 404, suffix
            assert foreign.headers["content-type"].startswith("text/html")
            assert "secret" not in foreign.text
            assert foreign.content != _png()
