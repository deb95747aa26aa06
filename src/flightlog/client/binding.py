"""Service functions declared as HTTP calls: one declaration, an async and a sync face.

A route of the API is declared once, in a facade class of the client::

    class Tasks(Facade[M]):
        create = bind("POST", "/tasks", tasks.create_task, TaskOut)

The service function gives the parameters (its signature without the session
and the customer, exactly as the Store's ``store.tasks.create`` has them) and
``TaskOut`` the return type. ``Route.__get__`` is overloaded on the facade's
mode, so mypy sees ``client.tasks.create`` as a coroutine function on the
``AsyncClient`` and as a plain function on the ``Client``.

A call does no I/O itself: it builds an :data:`Exchange`, a generator that
yields each :class:`Request` and is sent back its answer, read. The facade's
runner (:mod:`flightlog.client.transport`) sends them with httpx, awaiting or
not, so one declaration serves both faces (and a call of two requests, like
``events.append``, is written once too).

Encoding: parameters named in the path fill it; a GET sends the others as
query parameters (``None`` left out, a list repeated), every other method as
a JSON body. Arguments the caller left at ``UNSET``, or at a default of
``None``, are not sent (the server's default is the same, and some bodies take
no null), while the service's other defaults are, so the server acts on the
Store's defaults.

Typed parameters (UUIDs, times, enums, decimals, models) are encoded as the API
reads them; a free-form JSON value (a mapping: event ``data``, metric ``labels``,
a task's ``config``) is sent only if it is JSON already, so the client refuses
what the embedded Store refuses (:func:`strict_json`) instead of stringifying it.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import uuid
from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    TypeVar,
    cast,
    overload,
)
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticSerializationError, to_jsonable_python

from flightlog.errors import ValidationError
from flightlog.services._common import UNSET

if TYPE_CHECKING:
    from flightlog.client.transport import Runner

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

#: Any service: session and customer first, positional-only; sync or async, whatever it returns.
Service = Callable[Concatenate[Any, uuid.UUID, P], object]
#: The answer of a route that answers ``204 No Content``.
NO_CONTENT = type(None)
_PATH_PARAMETER = re.compile(r"{(\w+)}")


class Async:
    """The mode of a facade whose calls are coroutines (:class:`~flightlog.client.AsyncClient`)."""


class Sync:
    """The mode of a facade whose calls return their result (:class:`~flightlog.client.Client`)."""


M = TypeVar("M", bound=Async | Sync)


class Facade(Generic[M]):
    """One aggregate's face of a client: ``client.tasks``, ``client.runs``, …"""

    def __init__(self, runner: Runner[M]) -> None:
        self._runner = runner


class Reply(Generic[R]):
    """An answer read as ``model`` and then narrowed: a one-field envelope becomes its value."""

    def __init__(self, model: type[T], pick: Callable[[T], R]) -> None:
        self.model: Any = model
        self.pick: Callable[[Any], R] = pick


@dataclass(frozen=True)
class Request(Generic[R]):
    """One HTTP request of a call and how to read its answer (errors are the runner's)."""

    method: Method
    path: str
    read: Callable[[httpx.Response], R]
    params: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Statuses besides 2xx whose body is an answer to read, not an error (health's 503).
    answers: frozenset[int] = frozenset()


#: The requests of one call, each sent back its answer; it returns the call's result.
Exchange = Generator[Request[Any], Any, R]


def reader(returns: type[R] | Reply[R]) -> Callable[[httpx.Response], R]:
    """How to read an answer: nothing (204), the raw bytes, or JSON validated as ``returns``."""
    if isinstance(returns, Reply):
        read_model = reader(returns.model)
        pick = returns.pick
        return lambda response: pick(read_model(response))
    if returns is NO_CONTENT:
        return lambda _response: cast(R, None)
    if returns is bytes:
        return lambda response: cast(R, response.content)

    @functools.cache
    def adapter() -> TypeAdapter[R]:
        return TypeAdapter(returns)  # built on first use: 90 adapters would slow the import

    # by_name: the response models read ORM rows through aliases (``metadata_``).
    return lambda response: adapter().validate_json(response.content, by_alias=True, by_name=True)


def _segment(name: str, value: object) -> str:
    """One path parameter, quoted whole; refused if a URL path cannot carry it as it is."""
    text = str(value)
    if text in (".", ".."):
        raise ValidationError(
            f"{name} {text!r} cannot travel in a URL path (it means this or the parent "
            f"directory there): choose another {name}",
            field=name,
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValidationError(
            f"{name} contains a newline or another control character, which the API's paths "
            f"do not route: remove it from the {name}",
            field=name,
        )
    return quote(text, safe="")


def fill(path: str, **ids: object) -> str:
    """``path`` with each ``{name}`` replaced, quoted whole (an artifact name may hold ``/``)."""
    return _PATH_PARAMETER.sub(lambda match: _segment(match.group(1), ids[match.group(1)]), path)


_JSON_SCALARS = (str, int, float, bool, type(None))


def strict_json(value: object, where: str) -> None:
    """Refuse a free-form value JSON cannot hold as it is, like the Store does.

    pydantic would send a time as a string and a set as a list, so the stored value
    would differ from the one the embedded Store refuses ("cannot be stored as JSON").
    """
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, Mapping) and not isinstance(value, BaseModel):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"{where}: the key {key!r} is not a string, which JSON needs: use str keys",
                    field=where,
                )
            strict_json(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            strict_json(item, f"{where}[{index}]")
        return
    raise ValidationError(
        f"{where}: a {type(value).__name__} cannot be stored as JSON; convert it to strings, "
        "numbers, booleans, lists and objects first (a time with .isoformat(), a set as a list)",
        field=where,
    )


def strict_fields(values: Mapping[str, object]) -> None:
    """Each free-form (mapping) value among a call's parameters must be JSON already."""
    for name, value in values.items():
        if isinstance(value, Mapping) and not isinstance(value, BaseModel):
            strict_json(value, name)


def _plain(value: object) -> object:
    """Iterables as lists (a generator of ids too), models and the rest left to pydantic."""
    if isinstance(value, BaseModel | str | bytes | Mapping):
        return value
    if isinstance(value, Iterable):
        return list(value)
    return value


def _jsonable(values: Mapping[str, object]) -> Any:
    try:
        return to_jsonable_python({name: _plain(value) for name, value in values.items()})
    except PydanticSerializationError as exc:
        raise ValidationError(
            f"a parameter cannot be sent as JSON ({exc}): pass the types the method declares"
        ) from None


def query(values: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """Query parameters: ``None`` left out, a list repeated, booleans as ``true``/``false``,
    a JSON object as its JSON text (``requirements_contains={"type":"feature"}``)."""
    pairs: list[tuple[str, str]] = []
    for name, value in _jsonable(values).items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                textual = isinstance(item, bool | dict)
                pairs.append(
                    (name, json.dumps(item, separators=(",", ":")) if textual else str(item))
                )
    return tuple(pairs)


def json_body(values: Mapping[str, object]) -> bytes:
    """``values`` as JSON: UUIDs, times, enums, decimals and models as the API reads them."""
    return json.dumps(_jsonable(values)).encode()


def call(request: Request[R]) -> Exchange[R]:
    """The exchange of one request: its answer, read."""
    answer: R = yield request
    return answer


def request(
    method: Method,
    path: str,
    read: Callable[[httpx.Response], R],
    *,
    params: Mapping[str, object] | None = None,
    body: Mapping[str, object] | None = None,
    answers: frozenset[int] = frozenset(),
) -> Request[R]:
    """A request with ``params`` in the query and ``body`` as JSON (none when empty)."""
    content = json_body(body) if body else None
    headers = {"Content-Type": "application/json"} if content is not None else {}
    return Request(method, path, read, query(params or {}), content, headers, answers)


def send(
    method: Method,
    path: str,
    returns: type[R] | Reply[R],
    *,
    params: Mapping[str, object] | None = None,
    body: Mapping[str, object] | None = None,
) -> Exchange[R]:
    """The one request of a written-out call, its ``None`` values left out of the body too
    (the server's default is the same)."""
    sent = {name: value for name, value in (body or {}).items() if value is not None}
    return call(request(method, path, reader(returns), params=params, body=sent))


class Route(Generic[P, R]):
    """A facade method: ``build(*args, **kwargs)`` makes the exchange, the facade's runner runs it.

    ``method`` and ``path`` say which route of the API it covers (the coverage test reads
    them); ``primary`` is False for a convenience over a route another method covers.
    ``why`` is the reason a route is written out; a bound one keeps what :func:`bind` was
    given (``service``, ``returns``, ``rename``, ``fixed``) for the drift tests.
    """

    service: Callable[..., object] | None = None
    returns: object = None
    rename: Mapping[str, str] = {}
    fixed: Mapping[str, object] = {}

    def __init__(
        self,
        method: Method,
        path: str,
        build: Callable[P, Exchange[R]],
        *,
        primary: bool = True,
        why: str | None = None,
    ) -> None:
        self.method, self.path, self.build = method, path, build
        self.primary, self.why = primary, why
        self.name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, facade: None, owner: type) -> Route[P, R]: ...

    @overload
    def __get__(
        self, facade: Facade[Async], owner: type
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __get__(self, facade: Facade[Sync], owner: type) -> Callable[P, R]: ...

    def __get__(self, facade: Facade[Any] | None, owner: type) -> Any:
        if facade is None:
            return self
        bound = facade._runner.bind(self.build)
        # Not a data descriptor: the bound function, kept on the instance, is found directly
        # from the next access on.
        facade.__dict__[self.name] = bound
        return bound


def bind(
    method: Method,
    path: str,
    service: Service[P],
    returns: type[R] | Reply[R],
    *,
    rename: Mapping[str, str] | None = None,
    fixed: Mapping[str, object] | None = None,
) -> Route[P, R]:
    """The route ``method path`` as a method with ``service``'s parameters, answering ``returns``.

    ``rename`` maps a parameter to the name the route gives it (``query`` -> ``q``);
    ``fixed`` adds body fields the call always sends, for a convenience over a route
    (``runs.fail`` is ``/finish`` with ``status=FAILED``).
    """
    full = inspect.signature(service)
    parameters = list(full.parameters.values())[2:]
    signature = full.replace(parameters=parameters)
    in_path = _PATH_PARAMETER.findall(path)
    missing = set(in_path) - {p.name for p in parameters}
    if missing:
        raise TypeError(f"{service.__name__} has no parameter {sorted(missing)} for {path}")
    names, extra, read = dict(rename or {}), dict(fixed or {}), reader(returns)

    def build(*args: P.args, **kwargs: P.kwargs) -> Exchange[R]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = {
            name: value
            for name, value in bound.arguments.items()
            if value is not UNSET and not (value is None and full.parameters[name].default is None)
        }
        target = fill(path, **{name: values.pop(name) for name in in_path})
        strict_fields(values)
        sent = {names.get(name, name): value for name, value in values.items()} | extra
        if method == "GET":
            return call(request(method, target, read, params=sent))
        return call(request(method, target, read, body=sent))

    functools.update_wrapper(build, service)
    build.__signature__ = signature  # type: ignore[attr-defined]
    route = Route(method, path, build, primary=fixed is None)
    route.service, route.returns, route.rename, route.fixed = service, returns, names, extra
    return route


def written_out(
    method: Method, path: str, *, why: str, primary: bool = True
) -> Callable[[Callable[P, Exchange[R]]], Route[P, R]]:
    """A route written out by hand, for the reason ``why``: its parameters differ from a service's.

    The decorated function is a ``staticmethod`` (it takes the call's parameters, no
    ``self``) that returns the call's exchange, usually ``send(...)``; it serves both
    faces like a bound route.
    """

    def declare(build: Callable[P, Exchange[R]]) -> Route[P, R]:
        function = build.__func__ if isinstance(build, staticmethod) else build
        return Route(method, path, function, primary=primary, why=why)

    return declare
