"""The pooled HTTP client each platform client keeps for the life of the process: httpx's API
over aiohttp's connection pool (``AiohttpTransport``: a platform call costs a fifth of the CPU
of httpcore's pool)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import aiohttp
import httpx

from bot.loyalty.aiohttp_transport import AiohttpTransport, FormAnswer
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
        # Form posts skip httpx on the default transport (``_post_form``); a transport given
        # by the caller (tests that drop or refuse calls) sees every call through httpx.
        self._direct = None if transport else AiohttpTransport(max_connections=http.pool_size)
        self._base_headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=http.connect_timeout,
            sock_connect=http.connect_timeout,
            sock_read=http.read_timeout,
        )
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
            transport=transport or self._direct,
            follow_redirects=False,
        )

    async def _post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> FormAnswer:
        """Post a form; the answer's status and body. Failures are httpx's errors either way."""
        if self._direct is None:
            response = await self._http.post(url, data=form, headers=headers)
            return FormAnswer(response.status_code, response.content)
        merged = {**self._base_headers, **headers} if self._base_headers else headers
        return await self._direct.post_form(url, form, merged, self._timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
