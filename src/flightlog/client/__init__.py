"""A client for the HTTP API, for agents and workers that run elsewhere.

It speaks JSON over httpx and raises the same error classes as the Python
API (``NotFound``, ``ValidationError``, ``InvalidTransition``...), so code
written against a local Store can move to a remote server with few changes.
"""

from flightlog.client.http import Client, RemoteClaim

__all__ = ["Client", "RemoteClaim"]
