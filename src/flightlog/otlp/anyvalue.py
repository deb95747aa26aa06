"""OTLP ``AnyValue`` attributes to plain Python values (:data:`~flightlog.otlp.spans.AttrValue`).

Kept apart from the request decoding in :mod:`flightlog.otlp.wire` because spans, span events,
resources and metric points all carry the same ``KeyValue`` lists, and the nesting limit must be
enforced identically for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from flightlog.otlp.spans import AttrValue

#: Deepest nesting of arrays / key-value lists an attribute value may have. Real producers nest
#: one or two levels (a list of messages, each a key-value list); a deeper value is either a bug
#: or an attempt to make every later consumer (JSON columns, the dashboard) recurse without end.
MAX_ATTRIBUTE_DEPTH = 16


class AttributeTooDeep(ValueError):
    """An attribute value nests arrays or key-value lists deeper than :data:`MAX_ATTRIBUTE_DEPTH`.

    The decoder turns it into a per-span (or per-point) rejection rather than failing the whole
    request, so one odd attribute does not cost the exporter the rest of its batch.
    """

    def __init__(self, key: str) -> None:
        super().__init__(
            f"attribute {key!r} nests arrays or key-value lists deeper than "
            f"{MAX_ATTRIBUTE_DEPTH} levels"
        )
        self.key = key


def attributes(pairs: Iterable[KeyValue]) -> dict[str, AttrValue]:
    """Convert a ``repeated KeyValue`` to a dict; a repeated key keeps its last value.

    Raises :class:`AttributeTooDeep` when a value nests too deeply.
    """
    out: dict[str, AttrValue] = {}
    for pair in pairs:
        value = pair.value
        which = value.WhichOneof("value")
        # Most attributes are strings and numbers: read those here, without a call.
        if which == "string_value":
            out[pair.key] = value.string_value
        elif which == "int_value":
            out[pair.key] = value.int_value
        else:
            try:
                out[pair.key] = any_value(value, 0)
            except _TooDeep:
                raise AttributeTooDeep(pair.key) from None
    return out


class _TooDeep(Exception):
    """Raised inside the recursion; :func:`attributes` names the attribute it came from."""


def any_value(value: AnyValue, depth: int = 0) -> AttrValue:
    """Convert one ``AnyValue``: arrays become tuples, key-value lists dicts, an unset value None.

    ``depth`` counts the arrays / key-value lists already entered; exceeding
    :data:`MAX_ATTRIBUTE_DEPTH` raises (privately) so that :func:`attributes` can name the key.
    """
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return value.bytes_value
    if which == "array_value":
        if depth >= MAX_ATTRIBUTE_DEPTH:
            raise _TooDeep
        return tuple(any_value(item, depth + 1) for item in value.array_value.values)
    if which == "kvlist_value":
        if depth >= MAX_ATTRIBUTE_DEPTH:
            raise _TooDeep
        inner: dict[str, AttrValue] = {}
        for pair in value.kvlist_value.values:
            inner[pair.key] = any_value(pair.value, depth + 1)
        return inner
    # Unset, or ``string_value_strindex``: an index into the string table that only profiles
    # requests carry, meaningless on a span or a metric point.
    return None
