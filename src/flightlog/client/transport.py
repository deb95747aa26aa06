"""Sending a call's requests with httpx: awaited (``AsyncClient``) or not (``Client``).

A call's requests come from its declaration (:mod:`flightlog.client.binding`);
a runner only sends them, hands each answer back, and turns failures into
Flightlog's errors, so both faces raise exactly the same ones:

- an error body's ``code`` becomes the class :func:`flightlog.errors.error_class`
  names (the table the server answers with), with the body's ``details`` and
  ``details["http_status"]``; a 503's ``Retry-After`` is ``details["retry_after"]``;
- no answer at all (connection refused, timed out, cut off) is
  :class:`~flightlog.errors.ServerUnreachable`, never an httpx error;
- a request httpx refuses to send (a header value with a newline or a non-ASCII
  character) is the caller's :class:`~flightlog.errors.ValidationError`, checked
  before sending and never retried; its message names the header, never its
  value (it may be a secret).
"""

from __future__ import annotations

import asyncio
import functools
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, ParamSpec, TypeVar, cast

import httpx
from pydantic import ValidationError as PydanticValidationError

from flightlog.client.binding import Async, Exchange, M, Request, Sync
from flightlog.client.streams import EventFollower
from flightlog.db.positions import parse_position, token_position
from flightlog.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    FlightlogError,
    InvalidTransition,
    ServerUnreachable,
    ValidationError,
    error_class,
)
from flightlog.schemas.errors import ErrorBody
from flightlog.schemas.events import EventOut

P = ParamSpec("P")
R = TypeVar("R")


def raise_for(response: httpx.Response, answers: frozenset[int] = frozenset()) -> None:
    """Raise the error an unsuccessful answer carries, as the class its code names."""
    if response.is_success or response.status_code in answers:
        return
    status = response.status_code
    try:
        error = ErrorBody.model_validate_json(response.content).error
    except PydanticValidationError:
        raise FlightlogError(
            f"{response.request.method} {response.request.url.path} answered {status} "
            f"without an error body: {response.text[:200]}",
            http_status=status,
        ) from None
    kind = error_class(error.code)
    details = {k: v for k, v in error.details.items() if k not in ("message", "http_status")}
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        details["retry_after"] = int(retry_after)
    exc: FlightlogError
    if kind is InvalidTransition:
        entity, before, after = (
            str(details.get(key, "")) for key in ("entity", "from_status", "to_status")
        )
        exc = InvalidTransition(entity, before, after)
    else:
        exc = kind(error.message, **details)
    if kind is FlightlogError:
        exc.code = error.code  # a code the table does not know (internal_error): keep it
    exc.details["http_status"] = status
    raise exc


#: How long a stream may stay silent: longer than the server's keep-alive comment (every
#: 15 s), so a quiet stream is not cut by a short call timeout (``Client(timeout=3)``).
STREAM_READ_SECONDS = 45.0


def stream_timeout(configured: httpx.Timeout) -> httpx.Timeout:
    """The client's timeouts for a stream, its read timeout at least ``STREAM_READ_SECONDS``."""
    read = None if configured.read is None else max(configured.read, STREAM_READ_SECONDS)
    return httpx.Timeout(
        connect=configured.connect, read=read, write=configured.write, pool=configured.pool
    )


def header_problem(value: str) -> str | None:
    """Why HTTP cannot carry ``value`` as a header value, or None when it can."""
    if not value.isascii():
        return "contains a non-ASCII character"
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        return "contains a newline or another control character"
    return None


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a call's header that HTTP cannot carry, naming it but not its value."""
    for name, value in headers.items():
        problem = header_problem(value)
        if problem is not None:
            raise ValidationError(
                f"the {name} header {problem}: pass a value of printable ASCII characters",
                header=name,
            )


@contextmanager
def _reaching(http: httpx.Client | httpx.AsyncClient, path: str) -> Iterator[None]:
    """httpx's failures to get an answer, as Flightlog's errors."""
    try:
        yield
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        # Refused before anything was sent; the message would hold the header value.
        raise ValidationError(
            f"the request to {path} has a header httpx cannot send (a newline or a non-ASCII "
            "character): pass printable ASCII values"
        ) from None
    except RuntimeError as exc:
        if http.is_closed:
            raise ConfigurationError("the client is closed; open a new one") from None
        raise ConfigurationError(
            f"the client could not send to {path} ({exc}); an AsyncClient belongs to the event "
            "loop it first ran in: make one inside each asyncio.run that uses it"
        ) from exc
    except httpx.UnsupportedProtocol as exc:
        raise ConfigurationError(
            f"the client cannot reach {http.base_url} ({exc}): give the server's URL "
            "as http://host:port or https://host:port"
        ) from exc
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ServerUnreachable(
            f"could not connect to the Flightlog server at {http.base_url} ({exc or type(exc)}); "
            "check that it runs and the URL is right, then retry",
            request_sent=False,
        ) from exc
    except httpx.TransportError as exc:
        raise ServerUnreachable(
            f"the Flightlog server gave no answer to {path} ({type(exc).__name__}: {exc}); "
            "a write may have happened, so check before you retry it",
            request_sent=True,
        ) from exc


def read_answer(request: Request[R], response: httpx.Response) -> R:
    """A successful answer read as the call's result; one that is not the API's is an error."""
    try:
        return request.read(response)
    except PydanticValidationError:
        status = response.status_code
        raise FlightlogError(
            f"{response.request.method} {response.request.url.path} answered {status} with a "
            "body that is not the Flightlog API's: check that the base URL is the Flightlog "
            "server's, not another service's or a proxy's",
            http_status=status,
        ) from None


#: The server's read-your-writes token (see flightlog.api.consistency): on answers to writes,
#: and sent back on every later request of the same client.
CONSISTENCY_HEADER = "Flightlog-Consistency"


class Consistency:
    """The newest consistency token a client was given, which it sends with every request.

    With read replicas behind the server, this is what makes a client's reads
    show its own writes whichever server process answers. The tokens are WAL
    positions; the newest is the furthest one.
    """

    def __init__(self) -> None:
        self._token: str | None = None
        self._position = -1

    @property
    def token(self) -> str | None:
        """The token sent with each request; None until the client has written something."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        """Take another client's token (or None to forget); a malformed one is refused."""
        if value is None:
            self._token, self._position = None, -1
            return
        self._position = token_position(value, source="consistency token")
        self._token = value

    def headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """The request's headers, with the token when there is one."""
        if self._token is None or CONSISTENCY_HEADER in headers:
            return headers
        return {**headers, CONSISTENCY_HEADER: self._token}

    def keep(self, response: httpx.Response) -> None:
        """Remember the answer's token when it is newer than the one kept."""
        token = response.headers.get(CONSISTENCY_HEADER)
        if token is None:
            return
        try:
            position = parse_position(token)
        except ValueError:
            return  # not the server's own token (a proxy's?): keep the one we have
        if position > self._position:
            self._token, self._position = token, position


class Runner(ABC, Generic[M]):
    """Runs a facade's calls: ``bind`` makes a method of a call's exchange."""

    #: The client's read-your-writes token (one per client, shared by its facades).
    consistency: Consistency

    @abstractmethod
    def bind(self, build: Callable[P, Exchange[R]]) -> Callable[P, Any]: ...

    @abstractmethod
    def follow(self, open: Callable[P, EventFollower]) -> Callable[P, Any]: ...


class AsyncRunner(Runner[Async]):
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.consistency = Consistency()

    async def send(self, request: Request[Any]) -> httpx.Response:
        check_headers(request.headers)
        with _reaching(self._http, request.path):
            response = await self._http.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=self.consistency.headers(request.headers),
            )
        self.consistency.keep(response)
        raise_for(response, request.answers)
        return response

    def bind(self, build: Callable[P, Exchange[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            exchange = build(*args, **kwargs)
            request = next(exchange)
            while True:
                answer = read_answer(request, await self.send(request))
                try:
                    request = exchange.send(answer)
                except StopIteration as done:
                    return cast(R, done.value)

        return functools.wraps(build)(run)

    def follow(self, open: Callable[P, EventFollower]) -> Callable[P, AsyncGenerator[EventOut]]:
        async def events(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[EventOut]:
            follower = open(*args, **kwargs)
            timeout = stream_timeout(self._http.timeout)
            while True:
                params, headers = follower.request()
                try:
                    with _reaching(self._http, follower.path):
                        async with self._http.stream(
                            "GET", follower.path, params=params, headers=headers, timeout=timeout
                        ) as response:
                            if not response.is_success:
                                await response.aread()
                                raise_for(response)
                            async for line in response.aiter_lines():
                                event = follower.feed(line)
                                if event is not None:
                                    yield event
                except DatabaseUnavailable as exc:
                    if not follower.reconnect:
                        raise
                    await asyncio.sleep(follower.pause(exc))
                    continue
                if not follower.reconnect:
                    return

        return functools.wraps(open)(events)


class SyncRunner(Runner[Sync]):
    def __init__(self, http: httpx.Client) -> None:
        self._http = http
        self.consistency = Consistency()

    def send(self, request: Request[Any]) -> httpx.Response:
        check_headers(request.headers)
        with _reaching(self._http, request.path):
            response = self._http.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=self.consistency.headers(request.headers),
            )
        self.consistency.keep(response)
        raise_for(response, request.answers)
        return response

    def bind(self, build: Callable[P, Exchange[R]]) -> Callable[P, R]:
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            exchange = build(*args, **kwargs)
            request = next(exchange)
            while True:
                answer = read_answer(request, self.send(request))
                try:
                    request = exchange.send(answer)
                except StopIteration as done:
                    return cast(R, done.value)

        return functools.wraps(build)(run)

    def follow(
        self, open: Callable[P, EventFollower]
    ) -> Callable[P, Generator[EventOut, None, None]]:
        def events(*args: P.args, **kwargs: P.kwargs) -> Generator[EventOut, None, None]:
            follower = open(*args, **kwargs)
            timeout = stream_timeout(self._http.timeout)
            while True:
                params, headers = follower.request()
                try:
                    with (
                        _reaching(self._http, follower.path),
                        self._http.stream(
                            "GET", follower.path, params=params, headers=headers, timeout=timeout
                        ) as response,
                    ):
                        if not response.is_success:
                            response.read()
                            raise_for(response)
                        for line in response.iter_lines():
                            event = follower.feed(line)
                            if event is not None:
                                yield event
                except DatabaseUnavailable as exc:
                    if not follower.reconnect:
                        raise
                    time.sleep(follower.pause(exc))
                    continue
                if not follower.reconnect:
                    return

        return functools.wraps(open)(events)
