"""Bounded text for what agent code hands over: inputs, outputs, errors, results.

A step's arguments and return value can be anything (a 50 MB document, an
object whose ``repr`` raises), and they are summarised on the caller's
thread, so each summary costs a bounded amount of work: ``reprlib`` stops
after a few items and levels, and the text is cut at the configured number
of characters. Nothing here raises.
"""

from __future__ import annotations

import inspect
import json
import reprlib
import traceback
from collections.abc import Callable, Mapping
from typing import Any

_TRIMMED = "… ({more:,} more characters)"


class _Shape(reprlib.Repr):
    """``reprlib`` slices strings before their ``repr``; this slices bytes too.

    (Its generic path builds the whole ``repr`` of a 50 MB bytes first, then cuts it.)
    """

    def repr_bytes(self, x: bytes, level: int) -> str:
        return self._sliced(x, bytes(x[: self.maxstring]))

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        return self._sliced(x, bytearray(x[: self.maxstring]))

    def _sliced(self, whole: bytes | bytearray, head: bytes | bytearray) -> str:
        text = repr(head)
        if len(whole) > len(head):
            text += f"… ({len(whole) - len(head):,} more bytes)"
        return text


def _repr_with(limit: int) -> reprlib.Repr:
    shape = _Shape()
    shape.maxlevel = 4
    shape.maxlist = shape.maxtuple = shape.maxset = shape.maxfrozenset = 20
    shape.maxdeque = shape.maxarray = 20
    shape.maxdict = 20
    shape.maxstring = shape.maxother = shape.maxlong = max(limit, 20)
    return shape


def cut(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters and how many were left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + _TRIMMED.format(more=len(text) - limit)


def summarize(value: object, limit: int) -> str:
    """A string as itself, anything else as a bounded ``repr``; at most ``limit`` characters."""
    if isinstance(value, str):
        return cut(value, limit)
    try:
        text = _repr_with(limit).repr(value)
    except Exception as exc:  # a user's __repr__ may raise anything
        text = f"<{type(value).__qualname__} whose repr raised {type(exc).__name__}>"
    return cut(text, limit)


def describe_call(
    func: Callable[..., object], args: tuple[object, ...], kwargs: Mapping[str, object], limit: int
) -> str:
    """``name=value, …`` for a call's arguments, ``self``/``cls`` left out, bounded."""
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):  # a wrong call fails in the function itself; say what came
        parts = [summarize(a, limit) for a in args]
        parts += [f"{k}={summarize(v, limit)}" for k, v in kwargs.items()]
        return cut(", ".join(parts), limit)
    parts = []
    for index, (name, value) in enumerate(bound.arguments.items()):
        if index == 0 and name in ("self", "cls"):
            continue
        parts.append(f"{name}={summarize(value, limit)}")
        if sum(len(p) for p in parts) > limit:
            break
    return cut(", ".join(parts), limit)


def error_message(exc: BaseException, limit: int) -> str:
    """``ValueError: what went wrong``, bounded."""
    text = str(exc)
    return cut(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, limit)


def error_details(exc: BaseException, limit: int) -> dict[str, Any]:
    """Type, message and the end of the traceback (where it was raised), each bounded."""
    kind = type(exc)
    try:
        lines = traceback.format_exception(kind, exc, exc.__traceback__)
        trace = "".join(lines)
    except Exception:
        trace = ""
    if len(trace) > limit:  # the innermost frames are the ones that say where
        trace = f"…({len(trace) - limit:,} characters before)\n" + trace[-limit:]
    return {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "message": summarize(str(exc), limit),
        "traceback": trace,
    }


def json_object(value: Mapping[str, object] | None, limit: int) -> dict[str, Any] | None:
    """A mapping as JSON-safe data, or ``{"summary": …}`` when it is too big or not JSON.

    Used for a run's input context and results, which the database keeps as JSON.
    """
    if value is None:
        return None
    try:
        text = json.dumps(dict(value), default=str, ensure_ascii=False)
    except Exception:  # not JSON, too deep, or a mapping whose own methods raise
        return {"summary": summarize(value, limit)}
    if len(text) > limit * 8:
        return {"summary": cut(text, limit)}
    loaded: dict[str, Any] = json.loads(text)
    return loaded
