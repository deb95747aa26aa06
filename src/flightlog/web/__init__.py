"""The dashboard: server-rendered pages over the same Store as the APIs.

Signing in takes an API key (a ``read`` key is enough); the key is kept in an
HttpOnly, SameSite=Lax cookie and checked on every page like an API request.
"""

from flightlog.web.pages import router

__all__ = ["router"]
