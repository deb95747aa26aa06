"""``google.rpc.Status``, the body OTLP/HTTP requires on every 4xx and 5xx answer.

The class ships in ``googleapis-common-protos``, which Flightlog does not otherwise need (the
OTLP exporters pull it in on the client side, not ``opentelemetry-proto``). The message is
small and frozen since 2015, so it is declared here from its schema (``google/rpc/status.proto``:
``int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3;``) and the
protobuf runtime builds the class: the encoding is protobuf's own, never hand-written. It lives
in a private descriptor pool so that it cannot clash with the real ``google.rpc.Status`` when
``googleapis-common-protos`` is imported in the same process.
"""

from __future__ import annotations

# google.protobuf ships no type information (types-protobuf is deliberately not a dependency).
from google.protobuf import (  # type: ignore[import-untyped]
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
from google.protobuf.message import Message  # type: ignore[import-untyped]

_FieldProto = descriptor_pb2.FieldDescriptorProto


def _status_class() -> type[Message]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        syntax="proto3",
        dependency=["google/protobuf/any.proto"],
    )
    message = file.message_type.add(name="Status")
    message.field.add(
        name="code",
        json_name="code",
        number=1,
        type=_FieldProto.TYPE_INT32,
        label=_FieldProto.LABEL_OPTIONAL,
    )
    message.field.add(
        name="message",
        json_name="message",
        number=2,
        type=_FieldProto.TYPE_STRING,
        label=_FieldProto.LABEL_OPTIONAL,
    )
    message.field.add(
        name="details",
        json_name="details",
        number=3,
        type=_FieldProto.TYPE_MESSAGE,
        type_name=".google.protobuf.Any",
        label=_FieldProto.LABEL_REPEATED,
    )
    pool.Add(file)
    status: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("google.rpc.Status")
    )
    return status


#: The ``google.rpc.Status`` message class (fields ``code``, ``message``, ``details``).
Status = _status_class()

#: HTTP statuses to the ``google.rpc.Code`` they correspond to (from the mapping documented in
#: ``google/rpc/code.proto``); any other status is UNKNOWN (2).
_RPC_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    409: 10,  # ABORTED
    413: 8,  # RESOURCE_EXHAUSTED
    415: 3,  # INVALID_ARGUMENT
    429: 8,  # RESOURCE_EXHAUSTED
    500: 13,  # INTERNAL
    501: 12,  # UNIMPLEMENTED
    503: 14,  # UNAVAILABLE
    504: 4,  # DEADLINE_EXCEEDED
}


def rpc_code(http_status: int) -> int:
    """The ``google.rpc.Code`` for an HTTP status (UNKNOWN when there is no clear match)."""
    return _RPC_CODES.get(http_status, 2)


def new_status(http_status: int, message: str) -> Message:
    """A ``Status`` for an error answered with ``http_status``, saying ``message``.

    The message may quote the request (a key of a malformed JSON body); a lone
    surrogate there cannot be protobuf's UTF-8, so it is replaced, not raised.
    """
    if not message.isascii():
        message = message.encode("utf-8", "replace").decode("utf-8")
    return Status(code=rpc_code(http_status), message=message)
