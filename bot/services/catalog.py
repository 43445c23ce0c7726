"""The program's campaigns, fetched once and kept for a while: they change rarely, and joins
and history need them on every call."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import Campaign

CATALOG_TTL = dt.timedelta(minutes=10)


class CampaignCatalog:
    def __init__(
        self,
        backend: LoyaltyBackend,
        *,
        clock: Callable[[], dt.datetime],
        ttl: dt.timedelta = CATALOG_TTL,
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._ttl = ttl
        self._campaigns: list[Campaign] | None = None
        self._fetched_at: dt.datetime | None = None
        self._lock = asyncio.Lock()

    async def campaigns(self) -> list[Campaign]:
        async with self._lock:
            now = self._clock()
            if (
                self._campaigns is None
                or self._fetched_at is None
                or now - self._fetched_at >= self._ttl
            ):
                self._campaigns = await self._backend.campaigns()
                self._fetched_at = now
            return list(self._campaigns)

    async def by_id(self) -> dict[str, Campaign]:
        return {campaign.id: campaign for campaign in await self.campaigns()}
