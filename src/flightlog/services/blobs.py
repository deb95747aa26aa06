"""Content-addressed files for large artifacts, outside the database.

A blob lives at ``<blob_dir>/<sha[:2]>/<sha>``. It is written to a temporary
file, flushed to disk and renamed into place, so a reader never sees a half
written blob. Files are only removed after the transaction that dropped
their last reference has committed (see :func:`remove_files`), and a sweep
removes files no row refers to (left by a transaction that rolled back).
An import, which writes many blobs in one transaction, stages them
(:class:`BlobStaging`) and moves them into place only once it has committed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from flightlog.errors import FlightlogError


class ArtifactIntegrityError(FlightlogError):
    """Stored content no longer matches its SHA-256: it was altered or truncated."""

    code = "artifact_integrity_error"


def relative_path(sha256: str) -> str:
    """Where a blob lives, relative to the blob directory."""
    return f"{sha256[:2]}/{sha256}"


def write_blob(blob_dir: Path, sha256: str, content: bytes) -> str:
    """Store content under its hash (idempotent) and return its relative path."""
    rel = relative_path(sha256)
    target = blob_dir / rel
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        # Reused (left by an earlier upload): refresh its age so a sweep's grace
        # period protects it until this upload's row is committed.
        os.utime(target)
        return rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel


def _write_synced(path: Path, content: bytes) -> None:
    with path.open("xb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


#: Staging directories inside a blob directory start with this; the sweep never looks in them.
STAGING_PREFIX = ".staging-"


class BlobStaging:
    """Blob files held aside until the transaction whose rows refer to them has committed.

    :meth:`stage` writes content to a hidden directory of its own inside the
    blob directory (the same file system, so moving a file in is a rename);
    :meth:`publish`, called after the commit, renames each file to its place;
    :meth:`discard` (also what leaving the ``with`` block does without a
    publish) removes them, and the blob directory and its parents too if the
    staging created them, so a transaction that rolled back leaves the blob
    directory exactly as it found it. Nothing touches the disk until the first
    :meth:`stage`.
    """

    def __init__(self, blob_dir: Path) -> None:
        self.blob_dir = blob_dir
        self.staged: dict[str, Path] = {}
        self._directory: Path | None = None
        self._created: list[Path] = []  # directories made for the staging, deepest first
        self._done = False

    @property
    def finished(self) -> bool:
        """True once published or discarded."""
        return self._done

    def stage(self, sha256: str, content: bytes) -> str:
        """Hold ``content`` (already verified against ``sha256``); return its relative path."""
        if self._done:
            raise RuntimeError("this staging was already published or discarded")
        if sha256 not in self.staged:
            path = self._staging_directory() / sha256
            _write_synced(path, content)
            self.staged[sha256] = path
        return relative_path(sha256)

    def _staging_directory(self) -> Path:
        if self._directory is None:
            missing = []
            directory = self.blob_dir
            while not directory.exists() and directory.parent != directory:
                missing.append(directory)
                directory = directory.parent
            self._created = missing
            staging = self.blob_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
            staging.mkdir(parents=True)
            self._directory = staging
        return self._directory

    def publish(self) -> int:
        """Move every staged file into place (after the commit); returns how many."""
        if self._done:
            raise RuntimeError("this staging was already published or discarded")
        for sha256, path in self.staged.items():
            target = self.blob_dir / relative_path(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Identical bytes under a content address: replacing a file already there is
            # harmless, and gives it a fresh age for the sweep's grace period.
            os.replace(path, target)
        self._done = True
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        return len(self.staged)

    def discard(self) -> None:
        """Remove what was staged (the transaction rolled back); harmless after publish."""
        if self._done:
            return
        self._done = True
        if self._directory is None:
            return
        shutil.rmtree(self._directory, ignore_errors=True)
        for directory in self._created:
            try:
                directory.rmdir()  # only if empty: something else may have written there since
            except OSError:
                break

    def __enter__(self) -> BlobStaging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def read_blob(blob_dir: Path, rel: str, expected_sha256: str) -> bytes:
    """Read a blob and verify its hash."""
    path = blob_dir / rel
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(
            f"Blob {expected_sha256} is missing from {blob_dir}; "
            "check FLIGHTLOG_BLOB_DIR points at the directory the artifacts were written to.",
            sha256=expected_sha256,
        ) from None
    verify(content, expected_sha256)
    return content


def verify(content: bytes, expected_sha256: str) -> None:
    """Raise :class:`ArtifactIntegrityError` unless ``content`` hashes to ``expected_sha256``."""
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"Artifact content is corrupt: expected SHA-256 {expected_sha256}, got {actual}.",
            expected=expected_sha256,
            actual=actual,
        )


def remove_files(blob_dir: Path, relative_paths: Iterable[str]) -> int:
    """Delete blob files (after commit); returns how many were removed."""
    removed = 0
    for rel in relative_paths:
        path = blob_dir / rel
        if path.exists():
            path.unlink()
            removed += 1
    return removed


#: Files younger than this are left alone by the sweep: they may belong to an
#: upload whose transaction has not committed yet.
SWEEP_GRACE_SECONDS = 3600.0


def sweep(
    blob_dir: Path, referenced: set[str], *, grace_seconds: float = SWEEP_GRACE_SECONDS
) -> int:
    """Remove old files no blob row refers to; returns how many were removed.

    In-flight temporary files (``.incoming-*``) and files modified within
    ``grace_seconds`` are kept, so a sweep running during uploads cannot
    delete a file whose row is about to be committed.
    """
    if not blob_dir.exists():
        return 0
    cutoff = time.time() - grace_seconds
    removed = 0
    for path in blob_dir.glob("??/*"):  # never a staging directory (see STAGING_PREFIX)
        if path.name.startswith(".incoming-") or not path.is_file():
            continue
        if path.name not in referenced and path.stat().st_mtime < cutoff:
            path.unlink()
            removed += 1
    return removed
