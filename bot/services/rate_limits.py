"""Sliding-window limits per key (a kiosk): at most ``limit`` events in any ``window``.

Kept in memory: a restart forgives, which is fine for limits measured in minutes.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Hashable


class RateLimited(Exception):
    """Too many events; ``retry_after`` is how long until the next one is allowed."""

    def __init__(self, retry_after: dt.timedelta) -> None:
        super().__init__(f"rate limited; retry after {retry_after.total_seconds():.0f} s")
        self.retry_after = retry_after


def check_window(limit: int, window: dt.timedelta) -> None:
    """A limit allows at least one event in a window of some length."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if window <= dt.timedelta(0):
        raise ValueError("window must be positive")


class SlidingWindowLimit:
    def __init__(
        self, limit: int, window: dt.timedelta, *, clock: Callable[[], dt.datetime]
    ) -> None:
        check_window(limit, window)
        self._limit = limit
        self._window = window
        self._clock = clock
        self._events: dict[Hashable, deque[dt.datetime]] = {}

    def _recent(self, key: Hashable) -> deque[dt.datetime]:
        events = self._events.setdefault(key, deque())
        horizon = self._clock() - self._window
        while events and events[0] <= horizon:
            events.popleft()
        return events

    def check(self, key: Hashable) -> None:
        """Raise ``RateLimited`` if ``key`` has no event left in the window; record nothing."""
        events = self._recent(key)
        if len(events) >= self._limit:
            raise RateLimited(events[0] + self._window - self._clock())

    def record(self, key: Hashable) -> None:
        """Count an event that happened, allowed or not."""
        self._recent(key).append(self._clock())

    def take(self, key: Hashable) -> None:
        """Check, then count: one event allowed now, or ``RateLimited``."""
        self.check(key)
        self.record(key)

    def remaining(self, key: Hashable) -> int:
        return max(0, self._limit - len(self._recent(key)))
