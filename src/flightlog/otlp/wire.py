"""The OTLP/HTTP wire: request bodies in, plain spans and points out; responses back in kind.

Pure functions over bytes (no database, no web framework) so that the receivers' routes stay
thin and every odd body an exporter, a proxy or an attacker can send is testable in isolation.
Decoding uses the official ``opentelemetry-proto`` classes for both encodings the OTLP/HTTP
specification defines: binary protobuf (``application/x-protobuf``) and OTLP's JSON
(``application/json``), which differs from protobuf's canonical JSON in that trace and span
ids are hex rather than base64.

Failures of the request as a whole are typed exceptions, each carrying the HTTP status the
specification (or, where it is silent, HTTP itself) prescribes in ``http_status``:

- :class:`UnsupportedMediaType` and :class:`UnsupportedEncoding`: 415. The OTLP spec names no
  status for these, and says "All other HTTP responses that are not explicitly listed in this
  document should be treated according to HTTP specifications"; RFC 9110 §15.5.16 gives 415
  for both an unsupported media type and an unsupported content coding (answer with
  ``Accept-Encoding: gzip`` for the latter). 415 is not retryable in OTLP, which is right:
  resending the same body cannot help.
- :class:`MalformedRequest`: 400. "If the processing of the request fails because the request
  contains data that cannot be decoded or is otherwise invalid and such failure is permanent,
  then the server MUST respond with HTTP 400 Bad Request."
- :class:`BodyTooLarge`: 413. "The server MUST limit the size of the request body when
  parsing it, including after decompression [...] If the limit is exceeded, the server SHOULD
  respond with HTTP 413 Content Too Large."

Spans and points that cannot be kept are not failures of the request: they come back in
``rejected`` (see :mod:`flightlog.otlp.convert`) for a 200 with ``partial_success``.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeVar

# google.protobuf ships no type information (types-protobuf is deliberately not a dependency).
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.descriptor import (  # type: ignore[import-untyped]
    Descriptor,
    FieldDescriptor,
)
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from flightlog.otlp import convert
from flightlog.otlp.rpc_status import new_status
from flightlog.otlp.spans import DecodedMetrics, DecodedTraces, Rejected

#: The specification's recommended limit on a request body, after decompression.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_MEDIA_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": "application/protobuf", JSON: JSON}

#: Message nesting a JSON body may have before it is refused outright (``ParseDict`` itself
#: stops at 100 with a message naming every level). The envelope down to a span attribute's
#: value is six messages and each array or key-value list level adds two, so an attribute at
#: :data:`~flightlog.otlp.anyvalue.MAX_ATTRIBUTE_DEPTH` fits and one somewhat deeper still
#: gets a per-span rejection, like in protobuf.
MAX_JSON_DEPTH = 64


class WireError(Exception):
    """A request the receiver refuses as a whole; ``message`` is one sentence for the exporter."""

    http_status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedMediaType(WireError):
    """The Content-Type is neither OTLP's protobuf nor its JSON."""

    http_status = 415


class UnsupportedEncoding(WireError):
    """The Content-Encoding is not gzip or identity (answer with ``Accept-Encoding: gzip``)."""

    http_status = 415


class MalformedRequest(WireError):
    """The body cannot be decoded: corrupt gzip, protobuf or JSON, or a wrong JSON shape."""

    http_status = 400


class BodyTooLarge(WireError):
    """The body, before or after decompression, is larger than the receiver's limit."""

    http_status = 413


def decode_traces(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedTraces:
    """Decode an ``ExportTraceServiceRequest`` body into spans and per-span rejections.

    Raises a :class:`WireError` subclass when the request as a whole cannot be read.
    """
    request = _parse(body, content_type, content_encoding, max_bytes, ExportTraceServiceRequest())
    return convert.traces(request)


def decode_metrics(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedMetrics:
    """Decode an ``ExportMetricsServiceRequest`` body into metric points and rejections.

    Raises a :class:`WireError` subclass when the request as a whole cannot be read.
    """
    request = _parse(body, content_type, content_encoding, max_bytes, ExportMetricsServiceRequest())
    return convert.metrics(request)


def response_media_type(content_type: str | None) -> str:
    """The Content-Type of the response to a request sent with ``content_type``.

    The specification: "The server MUST use the same "Content-Type" in the response as it
    received in the request." A request in no supported type (the 415 case) is answered in
    binary protobuf, the encoding every OTLP client understands.
    """
    return _media_type(content_type) or PROTOBUF


def encode_export_response(
    kind: Literal["traces", "metrics"], rejected: int, message: str, content_type: str | None
) -> tuple[bytes, str]:
    """The 200 body: an ``Export{Trace,Metrics}ServiceResponse`` and its Content-Type.

    ``partial_success`` is set (with ``rejected_spans`` / ``rejected_data_points`` and
    ``message`` as ``error_message``) only when something was rejected: the specification says
    "The server MUST leave the partial_success field unset in case of a successful response."
    """
    response: ExportTraceServiceResponse | ExportMetricsServiceResponse
    if kind == "traces":
        response = ExportTraceServiceResponse()
        if rejected > 0:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
            )
    else:
        response = ExportMetricsServiceResponse()
        if rejected > 0:
            response.partial_success.CopyFrom(
                ExportMetricsPartialSuccess(rejected_data_points=rejected, error_message=message)
            )
    return _serialize(response, content_type)


def encode_status(code: int, message: str, content_type: str | None) -> tuple[bytes, str]:
    """The body of a 4xx/5xx answer: a ``google.rpc.Status`` and its Content-Type.

    ``code`` is the HTTP status of the response; ``Status.code`` gets the matching
    ``google.rpc.Code`` (the specification does not use it, clients may log it).
    """
    return _serialize(new_status(code, message), content_type)


def summarize_rejections(rejected: Sequence[Rejected], noun: str, shown: int = 3) -> str:
    """The ``error_message`` of a partial success: a count and the first few reasons."""
    if not rejected:
        return ""
    parts = [f"{item.what}: {item.reason}" for item in rejected[:shown]]
    more = len(rejected) - shown
    tail = f"; and {more} more" if more > 0 else ""
    return f"{len(rejected)} {noun} rejected: " + "; ".join(parts) + tail + "."


def _serialize(message: Message, content_type: str | None) -> tuple[bytes, str]:
    media_type = response_media_type(content_type)
    if media_type == JSON:
        document = json_format.MessageToDict(message)
        return json.dumps(document, separators=(",", ":")).encode(), media_type
    return message.SerializeToString(), media_type


def _media_type(content_type: str | None) -> str | None:
    """The supported media type named by a Content-Type header (parameters ignored), or None."""
    if not content_type:
        return None
    return _MEDIA_TYPES.get(content_type.split(";", 1)[0].strip().lower())


_M = TypeVar("_M", ExportTraceServiceRequest, ExportMetricsServiceRequest)


def _parse(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_bytes: int,
    message: _M,
) -> _M:
    media_type = _media_type(content_type)
    if media_type is None:
        shown = _shown(content_type) if content_type else "(none)"
        raise UnsupportedMediaType(
            f"Content-Type {shown} is not supported; send {PROTOBUF} or {JSON}."
        )
    gzipped = _gzipped(content_encoding)
    if len(body) > max_bytes:
        raise BodyTooLarge(f"The request body is larger than {max_bytes} bytes.")
    data = _gunzip(body, max_bytes) if gzipped else body
    name = message.DESCRIPTOR.name
    if media_type == JSON:
        _parse_json(data, message)
        return message
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise MalformedRequest(f"The body is not a valid protobuf {name} ({exc}).") from None
    return message


def _gzipped(content_encoding: str | None) -> bool:
    """Whether the body is gzip-compressed; raises for any coding other than gzip / identity."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return False
    if codings in (["gzip"], ["x-gzip"]):
        return True
    raise UnsupportedEncoding(
        f"Content-Encoding {_shown(content_encoding or '')} is not supported; "
        "send gzip or no encoding."
    )


def _shown(value: str) -> str:
    """A client-supplied value quoted for a message, bounded so it cannot flood the answer."""
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Inflate a gzip body (possibly several members), never beyond ``max_bytes``.

    Inflating in bounded steps is what keeps a gzip bomb (a few kilobytes that expand to
    gigabytes) from ever being held in memory.
    """
    out = bytearray()
    data = body
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        chunk = data
        try:
            while not inflater.eof:
                piece = inflater.decompress(chunk, max_bytes - len(out) + 1)
                out += piece
                if len(out) > max_bytes:
                    raise BodyTooLarge(f"The request body inflates to more than {max_bytes} bytes.")
                chunk = inflater.unconsumed_tail
                if not piece and not chunk:
                    break
        except zlib.error as exc:
            raise MalformedRequest(f"The body is not valid gzip ({exc}).") from None
        if not inflater.eof:
            raise MalformedRequest("The gzip body is truncated.")
        data = inflater.unused_data
        if not data:
            return bytes(out)


def _parse_json(data: bytes, message: Message) -> None:
    name = message.DESCRIPTOR.name
    try:
        document = json.loads(data)
    except RecursionError:
        raise MalformedRequest("The JSON body nests too deeply.") from None
    except ValueError as exc:  # includes UnicodeDecodeError and json.JSONDecodeError
        raise MalformedRequest(f"The body is not valid JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise MalformedRequest(f"The JSON body is not an object (an {name} was expected).")
    _hex_ids_to_base64(document, message.DESCRIPTOR)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedRequest(
            f"The JSON body is not a valid OTLP {name} ({_parse_error(str(exc))})."
        ) from None
    except SystemError as exc:
        # JSON may carry a lone surrogate ("\ud800", or its bytes, which json.loads lets
        # through); upb fails to encode it while looking a key up, inside a C call that
        # then surfaces as SystemError. Any other SystemError is not the body's doing.
        if not isinstance(exc.__cause__ or exc.__context__, UnicodeError):
            raise
        raise MalformedRequest(
            f"The JSON body is not a valid OTLP {name} (it holds text that is not valid "
            "Unicode: a lone surrogate such as \\ud800)."
        ) from None


_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field: ")


def _parse_error(text: str) -> str:
    """``ParseDict``'s nested "Failed to parse a field: Failed to parse b field: ..." as a path."""
    path: list[str] = []
    while match := _FAILED_FIELD.match(text):
        path.append(match.group(1))
        text = text[match.end() :]
    text = text.rstrip(".")
    if len(text) > 200:
        text = text[:197] + "..."
    if len(path) > 8:
        path = [*path[:4], "...", *path[-3:]]
    return f"at {'.'.join(path)}: {text}" if path else text


#: Bytes fields that OTLP's JSON writes in hex rather than protobuf JSON's base64.
_HEX_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_fields_by_key: dict[str, dict[str, FieldDescriptor]] = {}


def _hex_ids_to_base64(document: dict[str, Any], descriptor: Descriptor) -> None:
    """Rewrite, in place, every hex trace / span id of a JSON request to base64.

    Walks the JSON along the message schema (so an attribute or an unknown field that happens
    to be called ``traceId`` is left alone), without recursion, refusing messages nested deeper
    than :data:`MAX_JSON_DEPTH`.
    """
    stack: list[tuple[dict[str, Any], Descriptor, int]] = [(document, descriptor, 1)]
    while stack:
        node, node_type, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedRequest(
                f"The JSON body nests messages deeper than {MAX_JSON_DEPTH} levels."
            )
        fields = _fields(node_type)
        for key, value in node.items():
            field = fields.get(key)
            if field is None:
                continue
            if field.message_type is not None:
                items = value if isinstance(value, list) else [value]
                stack.extend(
                    (item, field.message_type, depth + 1)
                    for item in items
                    if isinstance(item, dict)
                )
            elif field.name in _HEX_FIELDS and isinstance(value, str):
                node[key] = _hex_to_base64(value, field.json_name)


def _fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields by every key ParseDict accepts: the JSON name and the proto name."""
    known = _fields_by_key.get(descriptor.full_name)
    if known is None:
        known = {}
        for field in descriptor.fields:
            known[field.name] = field
            known[field.json_name] = field
        _fields_by_key[descriptor.full_name] = known
    return known


def _hex_to_base64(value: str, key: str) -> str:
    if not _HEX.fullmatch(value):
        raise MalformedRequest(
            f"{key} {_shown(value)} is not a hex string, which OTLP/JSON requires."
        )
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")
