"""One-time links that sign a browser on this machine into the dashboard (issue 14).

``flightlog serve`` and ``flightlog demo --serve`` print a link carrying a token;
opening it from this machine, once, within its lifetime, signs the browser in as
the link's customer. What makes that safe (decision 0012):

- The token carries 256 random bits; only its SHA-256 is stored, so reading the
  table (or a backup of it) gives no usable link.
- A link is used once: redeeming is one conditional ``UPDATE … WHERE used_at IS
  NULL AND expires_at > now``. Of two redemptions racing, the second finds the
  row already changed (PostgreSQL re-checks the condition after the first
  commits; SQLite runs writers one at a time) and is refused.
- Redeeming issues an ordinary API key (read and write, for the session's
  lifetime) in the same transaction: the dashboard's cookie holds a key, as when
  a person pastes one, so nothing downstream knows a second way in. If issuing
  fails, the link stays unused.
- That the request comes from this machine is the web route's check: a service
  knows nothing of where a request came from.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from flightlog.errors import PermissionDenied
from flightlog.models import Customer, LocalSignIn
from flightlog.services._common import get_or_raise, utc_now
from flightlog.services.api_keys import READ_SCOPE, WRITE_SCOPE, CreatedApiKey, create_key

#: How long a printed link works: long enough to switch to a browser, short enough
#: that a link left in a terminal's scrollback is soon worth nothing.
LINK_LIFETIME = timedelta(minutes=10)
TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
#: Used and expired rows are kept this long (so a late click can be told "already
#: used" rather than "unknown"), then deleted when the next link is issued.
_KEPT_AFTER_EXPIRY = timedelta(days=1)
#: The name of the API keys redemptions issue, as ``flightlog api-key list`` shows them.
KEY_NAME = "dashboard (signed in on this machine)"
ACTOR = "local sign-in link"


class SignInRefused(PermissionDenied):
    """The link cannot sign anyone in; ``reason`` is ``unknown``, ``used`` or ``expired``."""

    code = "sign_in_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token: 256 random bits need no slow KDF (as for API keys)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(
    session: Session,
    customer_id: uuid.UUID,
    /,
    *,
    lifetime: timedelta = LINK_LIFETIME,
    expires_at: datetime | None = None,
) -> str:
    """Store a new link's hash for the customer and return its token, the only copy.

    ``expires_at`` overrides ``lifetime`` (tests give one already past). Rows that
    expired over a day ago are deleted here, so the table stays a handful of rows.
    """
    get_or_raise(session, Customer, customer_id)
    now = utc_now()
    session.execute(delete(LocalSignIn).where(LocalSignIn.expires_at < now - _KEPT_AFTER_EXPIRY))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        LocalSignIn(
            token_hash=hash_token(token),
            customer_id=customer_id,
            expires_at=expires_at if expires_at is not None else now + lifetime,
        )
    )
    session.flush()
    return token


def _why_refused(session: Session, digest: str | None) -> SignInRefused:
    row = None
    if digest is not None:
        row = session.scalar(select(LocalSignIn).where(LocalSignIn.token_hash == digest))
    if row is None:
        return SignInRefused(
            "unknown",
            "this sign-in link is not one this server issued (mistyped, cut short, "
            "or printed by a server on another database)",
        )
    if row.used_at is not None:
        return SignInRefused(
            "used",
            "this sign-in link has already been used; each link signs in once",
        )
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    return SignInRefused(
        "expired", f"this sign-in link has expired; links work for {minutes} minutes"
    )


def redeem(
    session: Session,
    token: str,
    /,
    *,
    key_lifetime: timedelta,
    key_name: str = KEY_NAME,
) -> CreatedApiKey:
    """Use the link once and return a new read+write key of its customer.

    Raises :class:`SignInRefused` for a link that is unknown, used or expired;
    the row is then left as it was.
    """
    if not isinstance(token, str) or _TOKEN_SHAPE.match(token) is None:
        raise _why_refused(session, None)
    digest = hash_token(token)
    now = utc_now()
    claimed = session.execute(
        update(LocalSignIn)
        .where(
            LocalSignIn.token_hash == digest,
            LocalSignIn.used_at.is_(None),
            LocalSignIn.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(claimed, CursorResult)
    if claimed.rowcount != 1:
        raise _why_refused(session, digest)
    customer_id = session.scalar(
        select(LocalSignIn.customer_id).where(LocalSignIn.token_hash == digest)
    )
    assert customer_id is not None
    return create_key(
        session,
        customer_id,
        key_name,
        scopes=[READ_SCOPE, WRITE_SCOPE],
        expires_at=now + key_lifetime,
        actor=ACTOR,
    )


def customer_name(session: Session, customer_id: uuid.UUID, /) -> str:
    """The customer's name and email, as the sign-in line names who the link is for."""
    row = get_or_raise(session, Customer, customer_id)
    return f"{row.name} <{row.email}>"
