"""A small cache of platform answers that are the same for every member (reward lists).

An entry lives ``ttl`` seconds; a lifetime of 0 turns the cache off. Callers that miss the same
key at the same moment share one request. A failed request is not cached. Keys must never
name a member: nothing member-specific belongs here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class TtlCache(Generic[Value]):
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Value]] = {}
        self._loading: dict[Hashable, asyncio.Future[Value]] = {}

    def fresh(self, key: Hashable) -> Value | None:
        """The value kept for ``key`` while it lives, else ``None``; never loads."""
        entry = self._entries.get(key) if self._ttl > 0 else None
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Value]]) -> Value:
        if self._ttl <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(key, load))
            self._loading[key] = loading
        return await asyncio.shield(loading)

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[Value]]) -> Value:
        try:
            value = await load()
            self._entries[key] = (self._clock() + self._ttl, value)
            return value
        finally:
            del self._loading[key]
