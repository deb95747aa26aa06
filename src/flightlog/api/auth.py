"""Who is calling: ``Authorization: Bearer <API key>`` resolved to a tenant's Store.

Scopes: a key created without scopes may do everything. Otherwise ``read``
allows GET requests and ``write`` allows every request (writing implies
reading), so a dashboard can hold a key that cannot change anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flightlog.api.context import ApiContext
from flightlog.errors import PermissionDenied, Unauthenticated
from flightlog.services.api_keys import OPERATOR_SCOPE, READ_SCOPE, WRITE_SCOPE, VerifiedKey
from flightlog.store.core import Store

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from 'flightlog api-key create', sent as a Bearer token.",
)


async def context(request: Request) -> ApiContext:
    """The app's shared state. ``async`` though it awaits nothing: FastAPI runs a plain
    ``def`` dependency in its thread pool, a hand-off that cost every request ~0.1 ms."""
    ctx: ApiContext = request.app.state.flightlog
    return ctx


def _allows(key: VerifiedKey, method: str) -> bool:
    if not key.scopes or WRITE_SCOPE in key.scopes:
        return True
    return method in _SAFE_METHODS and READ_SCOPE in key.scopes


async def _verified(
    ctx: ApiContext,
    credentials: HTTPAuthorizationCredentials | None,
    needs: str,
    create_with: str,
) -> VerifiedKey:
    """The key the request sent, verified; any refusal of the credentials is 401.

    ``needs`` and ``create_with`` name the key the endpoint wants and the
    command that makes one, for the answer to a request that sent none.
    """
    if credentials is None:
        raise Unauthenticated(
            f"this endpoint needs {needs}: send 'Authorization: Bearer <key>' "
            f"(create one with '{create_with}')"
        )
    try:
        return await ctx.keys.verify(credentials.credentials)
    except Unauthenticated:
        raise
    except PermissionDenied as exc:
        # Unknown, revoked or expired keys, and suspended customers: the credentials
        # themselves are not accepted, which HTTP calls 401, not 403.
        raise Unauthenticated(exc.message, **exc.details) from None


async def tenant_store(
    request: Request,
    ctx: Annotated[ApiContext, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Store:
    """The Store of the customer whose key made this request."""
    key = await _verified(ctx, credentials, "an API key", "flightlog api-key create")
    if not _allows(key, request.method):
        raise PermissionDenied(
            f"this API key's scopes ({', '.join(key.scopes)}) do not allow {request.method}; "
            f"it needs '{WRITE_SCOPE}'",
            scopes=key.scopes,
        )
    return ctx.store_for(key.customer_id)


TenantStore = Annotated[Store, Depends(tenant_store)]


async def operator_key(
    ctx: Annotated[ApiContext, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> VerifiedKey:
    """The verified key of an operator: one with the ``operator`` scope, else 401 or 403.

    Operator routes act across customers (deleting one), so no other key may
    call them, however broad: a key without scopes speaks for its own customer only.
    """
    key = await _verified(
        ctx,
        credentials,
        "an operator's API key",
        f"flightlog api-key create --scope {OPERATOR_SCOPE}",
    )
    if OPERATOR_SCOPE not in key.scopes:
        raise PermissionDenied(
            f"this endpoint is for operators: the API key needs the '{OPERATOR_SCOPE}' scope",
            scopes=key.scopes,
        )
    return key


OperatorKey = Annotated[VerifiedKey, Depends(operator_key)]
