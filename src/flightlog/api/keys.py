"""API-key verification with a short in-process memory.

Verifying a key stamps ``last_used_at``, which is a write. On SQLite a write
per request would queue every request behind one lock, so a verified key is
trusted for ``api_key_cache_seconds`` (default 30 s): revocation, expiry and a
suspended customer take effect within that time, and ``last_used_at`` is
accurate to it. The memory is keyed by the SHA-256 of the key, so no secret is
held beyond the request that carried it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightlog.db.engine import SQLITE_BEGIN_MODE
from flightlog.services.api_keys import VerifiedKey, check_key, stamp_last_used

#: Bound on remembered keys, so a flood of distinct valid keys cannot grow memory without end.
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class _Remembered:
    key: VerifiedKey
    until: float


class KeyCache:
    """``verify(key)``: the database's verdict, remembered for a while when it is a yes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl_seconds: float) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._known: dict[str, _Remembered] = {}

    async def verify(self, key: str) -> VerifiedKey:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        hit = self._known.get(digest)
        if hit is not None and hit.until > now:
            return hit.key
        # Checking is a read (on SQLite: no write lock), so a flood of wrong keys
        # cannot hold up writers; only a key that passed is stamped as used.
        async with self._sessions() as session:
            await session.connection(execution_options={SQLITE_BEGIN_MODE: "DEFERRED"})
            verified = await session.run_sync(check_key, key)
        async with self._sessions() as session, session.begin():
            await session.run_sync(stamp_last_used, verified.key_id)
        if self._ttl > 0:
            if len(self._known) >= _MAX_REMEMBERED:
                self._known = {d: r for d, r in self._known.items() if r.until > now}
                if len(self._known) >= _MAX_REMEMBERED:
                    self._known.clear()
            self._known[digest] = _Remembered(verified, now + self._ttl)
        return verified

    def forget(self) -> None:
        """Drop every remembered key (after revoking one, to make it take effect at once)."""
        self._known.clear()
