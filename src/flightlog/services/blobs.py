"""Content-addressed files for large artifacts, outside the database.

A blob lives at ``<blob_dir>/<sha[:2]>/<sha>``. It is written to a temporary
file, flushed to disk and renamed into place, so a reader never sees a half
written blob. Files are only removed after the transaction that dropped
their last reference has committed (see :func:`remove_files`), and a sweep
removes files no row refers to (left by a transaction that rolled back).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

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
    for path in blob_dir.glob("??/*"):
        if path.name.startswith(".incoming-") or not path.is_file():
            continue
        if path.name not in referenced and path.stat().st_mtime < cutoff:
            path.unlink()
            removed += 1
    return removed
