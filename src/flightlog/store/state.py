"""What the async and the synchronous Store have in common: the facades, and what bindings use.

A binding needs four things from either Store: the customer it acts for, its
settings and blob policy (for ``using`` and ``store_defaults``), whether its
face is async, and a unit of work of a given kind. Each Store class supplies
the unit of work for its own kind of session. The facades are declared here
once, typed by the Store they belong to (``Tasks[Store]``, ``Tasks[SyncStore]``).
"""

from __future__ import annotations

import sys
import uuid
from typing import Self

from sqlalchemy import URL

from flightlog.db.urls import DatabaseUrl
from flightlog.services.artifacts import BlobPolicy
from flightlog.settings import Settings
from flightlog.store import facades
from flightlog.store import project_facades as projects
from flightlog.store import review_facades as reviews
from flightlog.store import tenancy_facades as tenancy
from flightlog.store.replica_reads import ReadFloor, current_floor


class StoreState:
    """The customer, settings and blob policy a Store was opened with."""

    #: True for the async Store, whose bound calls are coroutines.
    is_async: bool

    def __init__(self: Self, settings: Settings, customer_id: uuid.UUID, url: str | URL) -> None:
        self.settings = settings
        self.customer_id = customer_id
        #: Whether reads bound ``stale_ok`` may go to read replicas (set by the Store classes).
        self.has_replicas = False
        #: This Store's own writes, which its replica reads must include (read-your-writes);
        #: an HTTP request's floor takes its place while the request is served.
        self.read_floor = ReadFloor()
        database = DatabaseUrl.parse(url)
        #: On an in-memory SQLite database (flightlog.db.memory): one connection, whose units
        #: of work take turns, and no one-statement paths beside them.
        self.in_memory = database.is_memory
        self.blob_policy = BlobPolicy(
            # The blob directory belongs to the database the engine is on.
            blob_dir=settings.resolved_blob_dir(database),
            # In memory, all content stays in the database: nothing outlives it on disk.
            inline_max_bytes=sys.maxsize if self.in_memory else settings.inline_artifact_max_bytes,
        )
        self.tasks: facades.Tasks[Self] = facades.Tasks(self)
        self.runs: facades.Runs[Self] = facades.Runs(self)
        self.agent_runs: facades.AgentRuns[Self] = facades.AgentRuns(self)
        self.events: facades.Events[Self] = facades.Events(self)
        self.metrics: facades.Metrics[Self] = facades.Metrics(self)
        self.artifacts: facades.Artifacts[Self] = facades.Artifacts(self)
        self.claims: facades.Claims[Self] = facades.Claims(self)
        self.traces: facades.Traces[Self] = facades.Traces(self)
        self.sessions: facades.Sessions[Self] = facades.Sessions(self)
        self.customers: tenancy.Customers[Self] = tenancy.Customers(self)
        self.api_keys: tenancy.ApiKeys[Self] = tenancy.ApiKeys(self)
        self.agents: tenancy.Agents[Self] = tenancy.Agents(self)
        self.model_prices: tenancy.ModelPrices[Self] = tenancy.ModelPrices(self)
        self.projects: projects.Projects[Self] = projects.Projects(self)
        self.project_contexts: projects.ProjectContexts[Self] = projects.ProjectContexts(self)
        self.templates: projects.Templates[Self] = projects.Templates(self)
        self.modifications: projects.Modifications[Self] = projects.Modifications(self)
        self.recommendations: reviews.Recommendations[Self] = reviews.Recommendations(self)
        self.optimizations: reviews.Optimizations[Self] = reviews.Optimizations(self)
        self.pull_requests: reviews.PullRequests[Self] = reviews.PullRequests(self)
        self.search: reviews.Search[Self] = reviews.Search(self)
        self.views: reviews.Views[Self] = reviews.Views(self)

    def note_write(self) -> None:
        """A write was made (or tried): the next replica read must include it.

        Called after every write unit, committed or not (a commit whose answer was
        lost may have happened). Nothing to do without replicas.
        """
        if self.has_replicas:
            current_floor(self.read_floor).wrote()
