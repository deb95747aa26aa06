"""Aggregates as plain JSON, so the sink's answers (from a probe process) and the database's
(from the Store in the test) compare value by value."""

from __future__ import annotations

import dataclasses
import math
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """Dataclasses as dicts, times as ISO text, decimals and UUIDs as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def same(sink: Any, database: Any, path: str = "") -> list[str]:
    """Where two plain answers differ; averages may differ in the last bits (sum order)."""
    if isinstance(sink, dict) and isinstance(database, dict):
        if sorted(sink) != sorted(database):
            return [f"{path}: keys {sorted(sink)} != {sorted(database)}"]
        return [d for k in sink for d in same(sink[k], database[k], f"{path}.{k}")]
    if isinstance(sink, list) and isinstance(database, list):
        if len(sink) != len(database):
            return [f"{path}: {len(sink)} items != {len(database)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(sink, database, strict=True))
            for d in same(a, b, f"{path}[{i}]")
        ]
    if path.endswith(".avg") and isinstance(sink, float) and isinstance(database, float):
        return (
            [] if math.isclose(sink, database, rel_tol=1e-9) else [f"{path}: {sink} != {database}"]
        )
    return [] if sink == database else [f"{path}: {sink!r} != {database!r}"]
