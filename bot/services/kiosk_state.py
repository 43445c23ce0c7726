"""Where the kiosk keeps what lives for minutes: visits, staff sessions, rate-limit windows
and PIN tries.

``MemoryKioskState`` keeps visits, sessions and windows in this process and PIN tries in the
database (``Kiosks``): one process serves every kiosk, and nothing changes for a shop without
Redis. With several replicas a kiosk's lookup, staff PIN and purchase may land on different
processes, so all of it moves to a store they share (``bot.storage.kiosk_state_redis``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.loyalty.models import Member
from bot.services.rate_limits import SlidingWindowLimit
from bot.storage.kiosks import PinAttempt


class KioskStateUnavailable(Exception):
    """The shared store (Redis) did not answer; the kiosk says "try again" and logs why."""


@dataclass(frozen=True)
class Visit:
    """A member on screen at one kiosk, known to the server only."""

    kiosk_id: int
    member: Member
    expires_at: dt.datetime


class VisitStore(Protocol):
    async def put(self, token: str, visit: Visit) -> None:
        """Keep ``visit`` under ``token`` until ``visit.expires_at``."""
        ...

    async def touch(self, token: str, kiosk_id: int, ttl: dt.timedelta) -> Visit | None:
        """The live visit under ``token`` at this kiosk, kept ``ttl`` longer from now; ``None``
        if there is none (a token offered by another kiosk ends the visit)."""
        ...

    async def delete(self, token: str, kiosk_id: int) -> None:
        """End the visit under ``token`` if it is this kiosk's."""
        ...


class WindowLimit(Protocol):
    """At most ``limit`` events per key in any window (a sliding window)."""

    async def check(self, key: str) -> None:
        """Raise ``RateLimited`` if ``key`` has no event left in the window; count nothing."""
        ...

    async def record(self, key: str) -> None:
        """Count an event that happened, allowed or not."""
        ...

    async def take(self, key: str) -> None:
        """Check and count at once: one event allowed now, or ``RateLimited``."""
        ...

    async def remaining(self, key: str) -> int: ...


class StaffSessionStore(Protocol):
    """One staff session per kiosk, known by the hash of its token."""

    async def open(self, kiosk_id: int, token_hash: str, expires_at: dt.datetime) -> None:
        """Open a session, replacing the kiosk's earlier one."""
        ...

    async def current(self, kiosk_id: int) -> str | None:
        """The token hash of the kiosk's live session, if one is open."""
        ...

    async def close(self, kiosk_id: int) -> None: ...


class PinAttemptCounter(Protocol):
    """Where a kiosk's PIN tries are counted: the database (``Kiosks``), or Redis with a
    script when kiosks run on several replicas. The claim must be atomic."""

    async def take_pin_attempt(
        self, kiosk_id: int, *, max_failures: int, now: dt.datetime, lock_until: dt.datetime
    ) -> PinAttempt:
        """Atomically refuse a try while locked, else count it as wrong (locking at the
        ``max_failures``-th in a row)."""
        ...

    async def clear_pin_failures(self, kiosk_id: int) -> None:
        """A right PIN: the count starts again and any lock ends."""
        ...


class KioskState(Protocol):
    @property
    def visits(self) -> VisitStore: ...

    @property
    def staff_sessions(self) -> StaffSessionStore: ...

    @property
    def pin_attempts(self) -> PinAttemptCounter | None:
        """``None``: the database's own counter (``Kiosks``)."""
        ...

    def window_limit(self, name: str, limit: int, window: dt.timedelta) -> WindowLimit:
        """The limit called ``name`` (each name counts apart from the others)."""
        ...

    async def ping(self) -> str:
        """Where the state is (``memory``, ``redis``); ``KioskStateUnavailable`` if it does
        not answer."""
        ...

    async def aclose(self) -> None: ...


class MemoryVisits:
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._visits: dict[str, Visit] = {}

    async def put(self, token: str, visit: Visit) -> None:
        now = self._clock()
        for old in [t for t, kept in self._visits.items() if kept.expires_at <= now]:
            del self._visits[old]
        self._visits[token] = visit

    async def touch(self, token: str, kiosk_id: int, ttl: dt.timedelta) -> Visit | None:
        visit = self._visits.get(token)
        now = self._clock()
        if visit is None or visit.kiosk_id != kiosk_id or visit.expires_at <= now:
            self._visits.pop(token, None)
            return None
        visit = Visit(visit.kiosk_id, visit.member, now + ttl)
        self._visits[token] = visit
        return visit

    async def delete(self, token: str, kiosk_id: int) -> None:
        visit = self._visits.get(token)
        if visit is not None and visit.kiosk_id == kiosk_id:
            del self._visits[token]


class MemoryWindowLimit:
    """A ``SlidingWindowLimit`` behind the async interface."""

    def __init__(self, limit: int, window: dt.timedelta, clock: Callable[[], dt.datetime]):
        self._limit = SlidingWindowLimit(limit, window, clock=clock)

    async def check(self, key: str) -> None:
        self._limit.check(key)

    async def record(self, key: str) -> None:
        self._limit.record(key)

    async def take(self, key: str) -> None:
        self._limit.take(key)

    async def remaining(self, key: str) -> int:
        return self._limit.remaining(key)


class MemoryStaffSessions:
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._sessions: dict[int, tuple[str, dt.datetime]] = {}

    async def open(self, kiosk_id: int, token_hash: str, expires_at: dt.datetime) -> None:
        self._sessions[kiosk_id] = (token_hash, expires_at)

    async def current(self, kiosk_id: int) -> str | None:
        session = self._sessions.get(kiosk_id)
        if session is None:
            return None
        token_hash, expires_at = session
        if expires_at <= self._clock():
            self._sessions.pop(kiosk_id, None)
            return None
        return token_hash

    async def close(self, kiosk_id: int) -> None:
        self._sessions.pop(kiosk_id, None)


class MemoryKioskState:
    """This process's memory, and the database for PIN tries (they survive a restart)."""

    pin_attempts: None = None

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self.visits = MemoryVisits(clock)
        self.staff_sessions = MemoryStaffSessions(clock)

    def window_limit(self, name: str, limit: int, window: dt.timedelta) -> MemoryWindowLimit:
        return MemoryWindowLimit(limit, window, self._clock)

    async def ping(self) -> str:
        return "memory"

    async def aclose(self) -> None:
        return None
