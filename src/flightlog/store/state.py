"""What the async and the synchronous Store have in common, for the bindings.

A binding needs four things from either Store: the customer it acts for, its
settings and blob policy (for ``using`` and ``store_defaults``), whether its
face is async, and a unit of work of a given kind. Each Store class supplies
the unit of work for its own kind of session.
"""

from __future__ import annotations

import uuid

from sqlalchemy import URL

from flightlog.db.urls import DatabaseUrl
from flightlog.services.artifacts import BlobPolicy
from flightlog.settings import Settings


class StoreState:
    """The customer, settings and blob policy a Store was opened with."""

    #: True for the async Store, whose bound calls are coroutines.
    is_async: bool

    def __init__(self, settings: Settings, customer_id: uuid.UUID, url: str | URL) -> None:
        self.settings = settings
        self.customer_id = customer_id
        self.blob_policy = BlobPolicy(
            # The blob directory belongs to the database the engine is on.
            blob_dir=settings.resolved_blob_dir(DatabaseUrl.parse(url)),
            inline_max_bytes=settings.inline_artifact_max_bytes,
        )
