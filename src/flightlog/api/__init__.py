"""The HTTP API: a FastAPI app over the same Store and services as the Python API.

Every request acts for the customer its API key belongs to; see
:mod:`flightlog.api.auth`. Start it with ``flightlog serve``.
"""

from flightlog.api.app import create_app

__all__ = ["create_app"]
