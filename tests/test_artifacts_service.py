"""Artifacts through ``store.artifacts``: inline vs file storage, dedup, versions, integrity."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from flightlog import ArtifactIntegrityError, ArtifactType, NotFound, Store, ValidationError
from flightlog.models import Artifact, ArtifactBlob, Customer, Task


def _small(tag: str = "") -> bytes:
    return f"small artifact {tag} {uuid.uuid4().hex}".encode()


def _large(store: Store, tag: str = "") -> bytes:
    head = f"large artifact {tag} {uuid.uuid4().hex}\n".encode()
    return head + os.urandom(store.settings.inline_artifact_max_bytes + 1024)


def _files(store: Store) -> list[Path]:
    blob_dir = store.blob_policy.blob_dir
    if not blob_dir.exists():
        return []
    return sorted(p for p in blob_dir.rglob("*") if p.is_file())


async def _blob(store: Store, sha256: str) -> ArtifactBlob | None:
    async with store.transaction() as s:
        return await s.get(ArtifactBlob, sha256)


async def _blob_rows(store: Store, *hashes: str) -> int:
    async with store.transaction() as s:
        count = await s.scalar(
            select(func.count()).select_from(ArtifactBlob).where(ArtifactBlob.sha256.in_(hashes))
        )
    return int(count or 0)


async def _task(store: Store, title: str = "artifacts") -> Task:
    return await store.tasks.create(title=title)


async def test_small_content_is_stored_inline(store: Store) -> None:
    task = await _task(store)
    content = _small()
    artifact = await store.artifacts.put(
        task.id, "notes.txt", content, content_type="text/plain", artifact_type="document"
    )
    digest = hashlib.sha256(content).hexdigest()
    assert artifact.sha256 == digest
    assert artifact.size_bytes == len(content)
    assert artifact.version == 1
    assert artifact.artifact_type is ArtifactType.DOCUMENT

    blob = await _blob(store, digest)
    assert blob is not None
    assert blob.content == content
    assert blob.storage_path is None
    assert blob.size_bytes == len(content)
    assert _files(store) == []
    assert await store.artifacts.read(artifact.id) == content
    assert (await store.artifacts.get(artifact.id)).name == "notes.txt"


async def test_content_at_the_inline_limit_stays_inline(store: Store) -> None:
    task = await _task(store)
    content = os.urandom(store.settings.inline_artifact_max_bytes)
    artifact = await store.artifacts.put(task.id, "edge.bin", content)
    blob = await _blob(store, artifact.sha256)
    assert blob is not None
    assert blob.content == content
    assert blob.storage_path is None
    assert _files(store) == []


async def test_large_content_is_stored_as_a_file(store: Store) -> None:
    task = await _task(store)
    content = _large(store)
    assert len(content) > store.settings.inline_artifact_max_bytes
    artifact = await store.artifacts.put(task.id, "big.bin", content)
    digest = hashlib.sha256(content).hexdigest()

    blob = await _blob(store, digest)
    assert blob is not None
    assert blob.content is None
    assert blob.storage_path is not None
    assert blob.size_bytes == len(content)
    path = store.settings.blob_dir / blob.storage_path
    assert path.is_file()
    assert path.read_bytes() == content
    assert _files(store) == [path]
    assert await store.artifacts.read(artifact.id) == content


@pytest.mark.parametrize("size", ["small", "large"])
async def test_identical_content_is_stored_once(store: Store, size: str) -> None:
    first_task = await _task(store, "first")
    second_task = await _task(store, "second")
    content = _small() if size == "small" else _large(store)

    a = await store.artifacts.put(first_task.id, "one.bin", content)
    b = await store.artifacts.put(first_task.id, "two.bin", content)
    c = await store.artifacts.put(second_task.id, "three.bin", content)

    assert a.sha256 == b.sha256 == c.sha256
    assert await _blob_rows(store, a.sha256) == 1
    assert len(_files(store)) == (0 if size == "small" else 1)
    for artifact in (a, b, c):
        assert await store.artifacts.read(artifact.id) == content


async def test_same_name_makes_new_versions(store: Store) -> None:
    task = await _task(store)
    v1_content, v2_content = _small("v1"), _large(store, "v2")
    v1 = await store.artifacts.put(task.id, "report.md", v1_content)
    v2 = await store.artifacts.put(task.id, "report.md", v2_content)
    other = await store.artifacts.put(task.id, "other.md", _small("other"))

    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.id != v2.id
    assert await store.artifacts.read(v1.id) == v1_content
    assert await store.artifacts.read(v2.id) == v2_content

    versions = await store.artifacts.versions(task.id, "report.md")
    assert [(a.id, a.version) for a in versions] == [(v1.id, 1), (v2.id, 2)]

    latest = await store.artifacts.latest(task.id)
    assert [(a.name, a.version, a.id) for a in latest] == [
        ("other.md", 1, other.id),
        ("report.md", 2, v2.id),
    ]


async def test_versions_are_numbered_per_task(store: Store) -> None:
    first = await _task(store, "first")
    second = await _task(store, "second")
    await store.artifacts.put(first.id, "out.txt", _small())
    await store.artifacts.put(first.id, "out.txt", _small())
    on_second = await store.artifacts.put(second.id, "out.txt", _small())
    assert on_second.version == 1


async def test_tampered_file_fails_verification(store: Store) -> None:
    task = await _task(store)
    content = _large(store)
    artifact = await store.artifacts.put(task.id, "big.bin", content)
    blob = await _blob(store, artifact.sha256)
    assert blob is not None
    assert blob.storage_path is not None
    path = store.settings.blob_dir / blob.storage_path
    assert await store.artifacts.read(artifact.id) == content

    tampered = bytearray(content)
    tampered[-1] ^= 0xFF
    path.write_bytes(bytes(tampered))
    with pytest.raises(ArtifactIntegrityError) as caught:
        await store.artifacts.read(artifact.id)
    assert caught.value.details["expected"] == artifact.sha256

    path.write_bytes(content[:100])
    with pytest.raises(ArtifactIntegrityError):
        await store.artifacts.read(artifact.id)

    path.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        await store.artifacts.read(artifact.id)


async def test_tampered_inline_content_fails_verification(store: Store) -> None:
    task = await _task(store)
    content = _small()
    artifact = await store.artifacts.put(task.id, "notes.txt", content)
    assert await store.artifacts.read(artifact.id) == content

    async with store.transaction() as s:
        await s.execute(
            update(ArtifactBlob)
            .where(ArtifactBlob.sha256 == artifact.sha256)
            .values(content=b"tampered " + content)
        )
    with pytest.raises(ArtifactIntegrityError) as caught:
        await store.artifacts.read(artifact.id)
    assert caught.value.details["expected"] == artifact.sha256


async def test_deleting_a_task_removes_blobs_only_it_used(store: Store) -> None:
    doomed = await _task(store, "doomed")
    keeper = await _task(store, "keeper")
    only_doomed_file = _large(store, "only doomed")
    only_doomed_inline = _small("only doomed")
    shared_file = _large(store, "shared")
    shared_inline = _small("shared")

    gone_file = await store.artifacts.put(doomed.id, "a.bin", only_doomed_file)
    gone_inline = await store.artifacts.put(doomed.id, "b.txt", only_doomed_inline)
    await store.artifacts.put(doomed.id, "c.bin", shared_file)
    await store.artifacts.put(doomed.id, "d.txt", shared_inline)
    kept_file = await store.artifacts.put(keeper.id, "c.bin", shared_file)
    kept_inline = await store.artifacts.put(keeper.id, "d.txt", shared_inline)

    gone_blob = await _blob(store, gone_file.sha256)
    kept_blob = await _blob(store, kept_file.sha256)
    assert gone_blob is not None
    assert gone_blob.storage_path is not None
    assert kept_blob is not None
    assert kept_blob.storage_path is not None
    gone_path = store.settings.blob_dir / gone_blob.storage_path
    kept_path = store.settings.blob_dir / kept_blob.storage_path
    assert sorted(_files(store)) == sorted([gone_path, kept_path])

    result = await store.tasks.delete(doomed.id)

    assert result.blobs_deleted == 2
    assert result.files_to_remove == [gone_blob.storage_path]
    assert await _blob_rows(store, gone_file.sha256, gone_inline.sha256) == 0
    assert await _blob_rows(store, kept_file.sha256, kept_inline.sha256) == 2
    assert not gone_path.exists()
    assert _files(store) == [kept_path]
    assert await store.artifacts.read(kept_file.id) == shared_file
    assert await store.artifacts.read(kept_inline.id) == shared_inline
    with pytest.raises(NotFound):
        await store.artifacts.get(gone_file.id)
    with pytest.raises(NotFound):
        await store.tasks.get(doomed.id)
    async with store.transaction() as s:
        left = await s.scalar(
            select(func.count()).select_from(Artifact).where(Artifact.task_id == doomed.id)
        )
    assert left == 0


async def test_deleting_a_task_removes_its_subtasks_blobs(store: Store) -> None:
    parent = await _task(store, "parent")
    child = await store.tasks.create(title="child", parent_task_id=parent.id)
    content = _large(store, "child")
    artifact = await store.artifacts.put(child.id, "c.bin", content)
    assert len(_files(store)) == 1

    result = await store.tasks.delete(parent.id)

    assert result.blobs_deleted == 1
    assert await _blob_rows(store, artifact.sha256) == 0
    assert _files(store) == []


async def test_sweep_removes_only_stray_files(store: Store) -> None:
    task = await _task(store)
    content = _large(store)
    artifact = await store.artifacts.put(task.id, "big.bin", content)
    [kept] = _files(store)

    stray_sha = hashlib.sha256(b"nobody refers to me").hexdigest()
    stray = store.settings.blob_dir / stray_sha[:2] / stray_sha
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"nobody refers to me")
    in_flight = stray.parent / ".incoming-upload"
    in_flight.write_bytes(b"half written")

    # A fresh stray file may belong to an upload not yet committed: kept by default.
    assert await store.artifacts.sweep() == 0
    assert stray.exists()
    old = time.time() - 2 * 3600
    os.utime(stray, (old, old))
    os.utime(in_flight, (old, old))
    assert await store.artifacts.sweep() == 1
    assert not stray.exists()
    assert in_flight.exists()  # temporary files of in-flight uploads are never swept
    in_flight.unlink()
    assert _files(store) == [kept]
    assert await store.artifacts.read(artifact.id) == content
    assert await store.artifacts.sweep(grace_seconds=0) == 0


async def test_sweep_with_no_blob_dir_is_a_no_op(store: Store) -> None:
    assert not store.settings.blob_dir.exists()
    assert await store.artifacts.sweep() == 0


async def test_another_customers_artifacts_are_not_found(store: Store) -> None:
    task = await _task(store)
    artifact = await store.artifacts.put(task.id, "mine.txt", _small())
    async with store.transaction() as s:
        connection = await s.connection()
        customer = Customer(name="Other", email=f"{uuid.uuid4().hex}@test.local")
        s.add(customer)
        await s.flush()
        other_id = customer.id
    other = Store(store.engine, store.settings, other_id, connection=connection)

    with pytest.raises(NotFound):
        await other.artifacts.read(artifact.id)
    with pytest.raises(NotFound):
        await other.artifacts.get(artifact.id)
    with pytest.raises(NotFound):
        await other.artifacts.versions(task.id, "mine.txt")
    with pytest.raises(NotFound):
        await other.artifacts.latest(task.id)
    with pytest.raises(NotFound):
        await other.artifacts.put(task.id, "mine.txt", _small())
    assert [a.version for a in await store.artifacts.versions(task.id, "mine.txt")] == [1]


async def test_bad_put_arguments_are_rejected(store: Store) -> None:
    task = await _task(store)
    with pytest.raises(ValidationError):
        await store.artifacts.put(task.id, "", b"x")
    with pytest.raises(ValidationError):
        await store.artifacts.put(task.id, "n" * 501, b"x")
    with pytest.raises(ValidationError):
        await store.artifacts.put(task.id, "number", 12)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await store.artifacts.put(uuid.uuid4(), "x", b"x")
    assert await store.artifacts.latest(task.id) == []
