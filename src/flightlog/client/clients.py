"""``AsyncClient`` and ``Client``: one server and one API key, organised like the Store.

Both have the same facades (``client.tasks``, ``client.runs``, …) built from
the same declarations; only the runner differs, so a method is a coroutine
function on the ``AsyncClient`` and a plain function on the ``Client``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import httpx

from flightlog.client import customers, model_prices, reviews, sessions, work
from flightlog.client.binding import (
    Async,
    Exchange,
    Facade,
    M,
    Request,
    Sync,
    call,
    reader,
    written_out,
)
from flightlog.client.transport import (
    AsyncRunner,
    Consistency,
    Runner,
    SyncRunner,
    header_problem,
)
from flightlog.errors import ConfigurationError, PermissionDenied
from flightlog.schemas.health import Health, HealthDetail

#: Where the server mounts the API.
API_PREFIX = "/api/v1"


class _Faces(Facade[M]):
    """The facades of a client, in either mode."""

    def __init__(self, runner: Runner[M]) -> None:
        super().__init__(runner)
        self.tasks: work.Tasks[M] = work.Tasks(runner)
        self.runs: work.Runs[M] = work.Runs(runner)
        self.agent_runs: work.AgentRuns[M] = work.AgentRuns(runner)
        self.events: work.Events[M] = work.Events(runner)
        self.metrics: work.Metrics[M] = work.Metrics(runner)
        self.artifacts: work.Artifacts[M] = work.Artifacts(runner)
        self.claims: work.Claims[M] = work.Claims(runner)
        self.agents: work.Agents[M] = work.Agents(runner)
        self.projects: reviews.Projects[M] = reviews.Projects(runner)
        self.project_contexts: reviews.ProjectContexts[M] = reviews.ProjectContexts(runner)
        self.modifications: reviews.Modifications[M] = reviews.Modifications(runner)
        self.templates: reviews.Templates[M] = reviews.Templates(runner)
        self.recommendations: reviews.Recommendations[M] = reviews.Recommendations(runner)
        self.optimizations: reviews.Optimizations[M] = reviews.Optimizations(runner)
        self.pull_requests: reviews.PullRequests[M] = reviews.PullRequests(runner)
        self.search: reviews.Search[M] = reviews.Search(runner)
        self.views: reviews.Views[M] = reviews.Views(runner)
        self.model_prices: model_prices.ModelPrices[M] = model_prices.ModelPrices(runner)
        self.sessions: sessions.Sessions[M] = sessions.Sessions(runner)
        self.traces: sessions.Traces[M] = sessions.Traces(runner)
        self.customers: customers.Customers[M] = customers.Customers(runner)

    @property
    def consistency(self) -> Consistency:
        """This client's read-your-writes token (``consistency.token``, None before a write).

        Sent with every request, so that reads show this client's writes even when
        the server reads from replicas; hand ``consistency.token`` to another client
        (``other.consistency.token = ...``) for its reads to show them too.
        """
        return self._runner.consistency

    @written_out("GET", "/health", why="no Store twin: the server's own state")
    @staticmethod
    def health() -> Exchange[Health]:
        """Whether the server's database answers: ``status`` "ok" or "unavailable"; needs no key."""
        return call(Request("GET", "/health", reader(Health), answers=frozenset({503})))

    @written_out(
        "GET",
        "/health",
        why="store.health() and store.stats() in one answer, for operator keys",
        primary=False,
    )
    @staticmethod
    def health_detail() -> Exchange[HealthDetail]:
        """The database's health and statistics (``GET /health?detail=true``): operator keys only.

        ``PermissionDenied`` when the server answers without them: the key lacks
        the ``operator`` scope. A database that is down is an answer too:
        ``health.reachable`` false, ``statistics`` None.
        """
        return call(
            Request(
                "GET",
                "/health",
                _read_detail,
                params=(("detail", "true"),),
                answers=frozenset({503}),
            )
        )


def _read_detail(response: httpx.Response) -> HealthDetail:
    """The detailed answer, or PermissionDenied for the plain one a non-operator key gets."""
    body = response.json()
    if not isinstance(body, dict) or "health" not in body:
        raise PermissionDenied(
            "the server answered without detail: GET /health?detail=true needs an API key "
            "with the 'operator' scope (flightlog api-key create --scope operator)"
        )
    return HealthDetail.model_validate(body)


def _api(base_url: str) -> str:
    """The API's root under ``base_url``, given with or without ``/api/v1``."""
    return base_url.rstrip("/").removesuffix(API_PREFIX) + API_PREFIX


def _key(api_key: str) -> dict[str, str]:
    """The key's header, refused here: httpx would fail every call, quoting the secret."""
    problem = header_problem(api_key)
    if problem is not None:
        what = "a newline or non-ASCII character" if "ASCII" in problem else "a control character"
        raise ConfigurationError(
            f"the API key contains {what}; pass the key alone "
            "(e.g. Path(...).read_text().strip() for a key read from a file)"
        )
    return {"Authorization": f"Bearer {api_key}"}


@contextmanager
def _configuring(base_url: str) -> Iterator[None]:
    """A base URL httpx cannot parse, as a ConfigurationError."""
    try:
        yield
    except httpx.InvalidURL as exc:
        raise ConfigurationError(
            f"the base URL {base_url!r} is not a URL ({exc}): give it as http://host:port"
        ) from None


class AsyncClient(_Faces[Async]):
    """The HTTP API for asyncio code: ``async with AsyncClient(url, key) as fl:``.

    ``await fl.tasks.create(title=...)`` takes the Store's parameters and answers
    the API's models (``TaskOut``); errors are the Store's classes. ``transport``
    routes the requests elsewhere, e.g. ``httpx.ASGITransport(app)`` to an app in
    this process.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = _key(api_key)
        with _configuring(base_url):
            self._http = httpx.AsyncClient(
                base_url=_api(base_url), headers=headers, timeout=timeout, transport=transport
            )
        super().__init__(AsyncRunner(self._http))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()


class Client(_Faces[Sync]):
    """The HTTP API for code without asyncio: ``with Client(url, key) as fl:``.

    ``fl.tasks.create(title=...)`` takes the Store's parameters and answers the
    API's models (``TaskOut``); errors are the Store's classes. Usable from
    several threads at once (httpx's client is).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = _key(api_key)
        with _configuring(base_url):
            self._http = httpx.Client(
                base_url=_api(base_url), headers=headers, timeout=timeout, transport=transport
            )
        super().__init__(SyncRunner(self._http))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
