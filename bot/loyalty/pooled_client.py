"""The pooled HTTP client each platform client keeps for the life of the process: httpx's API
over aiohttp's connection pool (``AiohttpTransport``: a platform call costs a fifth of the CPU
of httpcore's pool)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import httpx

from bot.loyalty.aiohttp_transport import AiohttpTransport
from bot.loyalty.options import HttpSettings


class PooledPlatformClient:
    """One ``httpx.AsyncClient`` with the configured timeouts and pool size, closed by
    ``aclose`` or by leaving ``async with``."""

    def __init__(
        self,
        http: HttpSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                connect=http.connect_timeout,
                read=http.read_timeout,
                write=http.read_timeout,
                pool=http.connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=http.pool_size, max_keepalive_connections=http.pool_size
            ),
            transport=transport or AiohttpTransport(max_connections=http.pool_size),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
