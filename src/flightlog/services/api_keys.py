"""API keys (seed 002): issued once, stored only as a hash, verified by prefix lookup.

A key reads ``fl_<8 hex>_<43 urlsafe>``. The first part (``fl_`` and eight hex
characters) is the *prefix*: not secret, unique, stored in clear so that a
key is found with one index probe and can be named in lists and logs. The
whole key is hashed with plain SHA-256. A slow KDF (bcrypt, argon2) protects
low-entropy passwords from guessing; these keys carry 256 random bits from
:func:`secrets.token_urlsafe`, so guessing is hopeless either way and a fast
hash keeps verification cheap on every request.

The secret exists in clear only in the :class:`CreatedApiKey` returned by
:func:`create_key`, and never in a repr, the database or an event.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flightlog.enums import CustomerStatus
from flightlog.errors import Conflict, PermissionDenied
from flightlog.models import ApiKey, Customer
from flightlog.services import events
from flightlog.services._common import get_or_raise, require, utc_now

#: The scopes the HTTP API understands: ``read`` allows GET requests, ``write``
#: everything; a key without scopes may do everything.
READ_SCOPE = "read"
WRITE_SCOPE = "write"
#: The operator's scope: ``GET /health?detail=true`` answers the whole database's health
#: and statistics (every customer's row counts) to a key that has it. Never implied by a
#: key without scopes, which speaks for its own customer only; combine it with ``read``
#: or ``write`` for a key that also works on the customer's things.
OPERATOR_SCOPE = "operator"
KEY_SCHEME = "fl_"
PUBLIC_PART_LENGTH = 8
SECRET_BYTES = 32
SECRET_LENGTH = 43  # len(secrets.token_urlsafe(32))
KEY_LENGTH = len(KEY_SCHEME) + PUBLIC_PART_LENGTH + 1 + SECRET_LENGTH
_KEY_SHAPE = re.compile(r"^fl_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
#: One message for every way a presented key can be wrong, so a caller probing
#: with forged keys cannot tell a bad format from an unknown prefix or a wrong secret.
INVALID_KEY_MESSAGE = "invalid API key"
_PREFIX_ATTEMPTS = 5
# Compared against when no key has the presented prefix, so that a miss costs
# the same work as a hit with a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"flightlog-no-such-key").hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key: everything except its hash and secret."""

    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyInfo:
        return cls(
            id=row.id,
            customer_id=row.customer_id,
            name=row.name,
            prefix=row.prefix,
            scopes=list(row.scopes),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True)
class CreatedApiKey(ApiKeyInfo):
    """A new key. ``key`` is the only copy of the secret: hand it over once, then drop it."""

    key: str = field(repr=False, kw_only=True)


@dataclass(frozen=True)
class VerifiedKey:
    """Who a presented key speaks for."""

    customer_id: uuid.UUID
    key_id: uuid.UUID
    scopes: list[str]
    #: So that a cache of verdicts never trusts the key past this moment.
    expires_at: datetime | None = None


def hash_key(key: str) -> str:
    """Hex SHA-256 of the whole key (see the module docstring for why no KDF)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _invalid() -> PermissionDenied:
    return PermissionDenied(INVALID_KEY_MESSAGE)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    require(not isinstance(scopes, str), "scopes must be a list of strings, not one string")
    values = list(scopes)
    require(
        all(isinstance(s, str) and 0 < len(s.strip()) <= 100 for s in values),
        "each scope must be a string of 1 to 100 characters",
    )
    # Scopes are names like the enums: any case in, lower case stored ("READ" is "read").
    return list(dict.fromkeys(s.strip().lower() for s in values))


def _audit(
    session: Session,
    row: ApiKey,
    action: str,
    *,
    actor: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """An audit event naming the key by prefix only: the log must never hold a secret."""
    events.record_audit(
        session,
        entity="ApiKey",
        entity_id=row.id,
        action=action,
        content=f"ApiKey {row.prefix} {action}",
        customer_id=row.customer_id,
        actor=actor,
        data={"prefix": row.prefix, **(data or {})},
    )


def create_key(
    session: Session,
    customer_id: uuid.UUID,
    /,
    name: str,
    *,
    scopes: Iterable[str] = (),
    expires_at: datetime | None = None,
    actor: str | None = None,
) -> CreatedApiKey:
    """Issue a key; the result carries the secret, which is not recoverable afterwards."""
    require(
        isinstance(name, str) and 0 < len(name.strip()) <= 255,
        "key name must be 1 to 255 characters",
    )
    clean_scopes = _clean_scopes(scopes)
    if expires_at is not None:
        require(
            isinstance(expires_at, datetime) and expires_at.tzinfo is not None,
            "expires_at must be a timezone-aware datetime",
        )
        require(expires_at > utc_now(), "expires_at must be in the future")
    get_or_raise(session, Customer, customer_id)
    for _ in range(_PREFIX_ATTEMPTS):
        public = secrets.token_hex(PUBLIC_PART_LENGTH // 2)
        key = f"{KEY_SCHEME}{public}_{secrets.token_urlsafe(SECRET_BYTES)}"
        row = ApiKey(
            customer_id=customer_id,
            name=name.strip(),
            prefix=f"{KEY_SCHEME}{public}",
            key_hash=hash_key(key),
            scopes=clean_scopes,
            expires_at=expires_at,
        )
        try:
            # 2**32 prefixes: a collision is rare but possible; draw again if it happens.
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue
        _audit(session, row, "created", actor=actor, data={"scopes": clean_scopes})
        session.flush()
        info = ApiKeyInfo.of(row)
        return CreatedApiKey(**vars(info), key=key)
    raise Conflict("could not draw an unused key prefix; try again")


def check_key(session: Session, key: str) -> VerifiedKey:
    """Resolve a presented key to its customer, or raise :class:`PermissionDenied`; read only.

    Not tenant-scoped: this is how the tenant is found. Until the secret has
    matched, every failure carries the same message; after it matched, the
    caller has proved possession and may learn that the key is revoked or expired.
    """
    match = _KEY_SHAPE.match(key) if isinstance(key, str) else None
    if match is None:
        raise _invalid()
    prefix = f"{KEY_SCHEME}{match.group(1)}"
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    expected = row.key_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(hash_key(key), expected) or row is None:
        raise _invalid()
    now = utc_now()
    if row.revoked_at is not None:
        raise PermissionDenied(f"API key {prefix} has been revoked", prefix=prefix)
    if row.expires_at is not None and row.expires_at <= now:
        raise PermissionDenied(f"API key {prefix} has expired", prefix=prefix)
    status = session.scalar(select(Customer.status).where(Customer.id == row.customer_id))
    if status is not CustomerStatus.ACTIVE:
        raise PermissionDenied(
            f"the customer of API key {prefix} is {status}", prefix=prefix, status=str(status)
        )
    return VerifiedKey(
        customer_id=row.customer_id,
        key_id=row.id,
        scopes=list(row.scopes),
        expires_at=row.expires_at,
    )


def stamp_last_used(session: Session, key_id: uuid.UUID) -> None:
    """Record that a key was used just now (a write)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utc_now()))


def verify_key(session: Session, /, key: str) -> VerifiedKey:
    """:func:`check_key`, then stamp ``last_used_at``, so it needs a write transaction."""
    verified = check_key(session, key)
    stamp_last_used(session, verified.key_id)
    return verified


def revoke_key(
    session: Session,
    customer_id: uuid.UUID,
    /,
    key_id: uuid.UUID,
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> ApiKeyInfo:
    """Revoke a key for good. Revoking twice is a :class:`Conflict`: the first one already won."""
    row = get_or_raise(session, ApiKey, key_id, customer_id=customer_id, for_update=True)
    if row.revoked_at is not None:
        raise Conflict(f"API key {row.prefix} is already revoked", prefix=row.prefix)
    row.revoked_at = utc_now()
    _audit(session, row, "revoked", actor=actor, data={"reason": reason} if reason else None)
    session.flush()
    return ApiKeyInfo.of(row)


def get_key(session: Session, customer_id: uuid.UUID, /, key_id: uuid.UUID) -> ApiKeyInfo:
    """One key's public facts, or :class:`NotFound` (also for another customer's key)."""
    return ApiKeyInfo.of(get_or_raise(session, ApiKey, key_id, customer_id=customer_id))


def list_keys(
    session: Session, customer_id: uuid.UUID, /, *, include_revoked: bool = True
) -> list[ApiKeyInfo]:
    """A customer's keys, oldest first, as :class:`ApiKeyInfo` (no hashes leave this module)."""
    stmt = select(ApiKey).where(ApiKey.customer_id == customer_id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    rows = (session.scalars(stmt.order_by(ApiKey.created_at, ApiKey.id))).all()
    return [ApiKeyInfo.of(row) for row in rows]


__all__ = [
    "INVALID_KEY_MESSAGE",
    "OPERATOR_SCOPE",
    "READ_SCOPE",
    "WRITE_SCOPE",
    "ApiKeyInfo",
    "CreatedApiKey",
    "VerifiedKey",
    "check_key",
    "create_key",
    "get_key",
    "hash_key",
    "list_keys",
    "revoke_key",
    "stamp_last_used",
    "verify_key",
]
