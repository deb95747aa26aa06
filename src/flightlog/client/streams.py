"""Server-sent events as a facade method: an async generator on the ``AsyncClient``, a
generator on the ``Client``, reconnecting after the last event it gave.

The stream is parsed here, once (:class:`EventFollower`); the runners of
:mod:`flightlog.client.transport` only move its lines and wait between connections.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, overload

from flightlog.client.binding import Async, Facade, Method, Sync, query
from flightlog.errors import DatabaseUnavailable
from flightlog.schemas.events import EventOut

P = ParamSpec("P")


class Stream(Generic[P]):
    """A route answering server-sent events: an async generator on the ``AsyncClient``, a
    generator on the ``Client`` (close it, or read it in ``contextlib.aclosing`` /
    ``closing``, to end the connection); ``open`` says where to connect and resume."""

    def __init__(self, path: str, open: Callable[P, EventFollower], *, why: str) -> None:
        self.method: Method = "GET"
        self.path, self.open, self.why, self.primary = path, open, why, True
        self.name = open.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, facade: None, owner: type) -> Stream[P]: ...

    @overload
    def __get__(
        self, facade: Facade[Async], owner: type
    ) -> Callable[P, AsyncGenerator[EventOut]]: ...

    @overload
    def __get__(
        self, facade: Facade[Sync], owner: type
    ) -> Callable[P, Generator[EventOut, None, None]]: ...

    def __get__(self, facade: Facade[Any] | None, owner: type) -> Any:
        if facade is None:
            return self
        return facade._runner.follow(self.open)


@dataclass
class EventFollower:
    """Where an event stream connects and resumes: the last event id seen, the server's retry.

    It reads the stream line by line (``feed``); the runner reconnects with
    ``Last-Event-ID`` after the server ends a stream (``timeout_seconds``) and, after
    ``retry_seconds``, when the connection or the database fails, unless ``reconnect``
    is False. Parsing is here, once; the runners only move the lines.
    """

    path: str
    params: dict[str, object]
    last_id: int
    reconnect: bool
    retry_seconds: float = 2.0
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def request(self) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
        """The query and headers of the next connection, resuming after the last event."""
        return query(self.params), {"Last-Event-ID": str(self.last_id)}

    def feed(self, line: str) -> EventOut | None:
        """One line of the stream; an event once its message is complete."""
        if line == "":
            data, self._data = self._data, []
            if not data:
                return None
            event = EventOut.model_validate_json("\n".join(data))
            self.last_id = int(self._id) if self._id and self._id.isdigit() else event.id
            return event
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_seconds = int(value) / 1000
        return None

    def pause(self, error: DatabaseUnavailable) -> float:
        """How long to wait to reconnect: a 503's ``Retry-After``, else the server's retry."""
        retry_after = error.details.get("retry_after")
        return float(retry_after) if isinstance(retry_after, int) else self.retry_seconds
