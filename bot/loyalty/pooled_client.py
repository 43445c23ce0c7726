"""The pooled HTTP client each platform client keeps for the life of the process: httpx's API
over aiohttp's connection pool (``AiohttpTransport``: a platform call costs a fifth of the CPU
of httpcore's pool), and form posts over ``Http1Pool``'s keep-alive connections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self
from urllib.parse import urlencode

import httpx

from bot.loyalty.aiohttp_transport import AiohttpTransport
from bot.loyalty.http1 import FormAnswer, Http1Pool
from bot.loyalty.options import HttpSettings

FORM_TYPE = "application/x-www-form-urlencoded"
USER_AGENT = "loyalty-bot"


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
        self._forms = (
            None
            if transport
            else Http1Pool(
                max_connections=http.pool_size,
                connect_timeout=http.connect_timeout,
                read_timeout=http.read_timeout,
            )
        )
        self._form_headers = {"User-Agent": USER_AGENT, **(headers or {})}
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

    async def _post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> FormAnswer:
        """Post a form; the answer's status and body. Failures are httpx's errors either way."""
        if self._forms is None:
            response = await self._http.post(url, data=form, headers=headers)
            return FormAnswer(response.status_code, response.content)
        # The bytes httpx (and aiohttp's FormData) would send for the form.
        body = urlencode(list(form.items()), doseq=True).encode()
        merged = {**self._form_headers, **headers} if headers else self._form_headers
        return await self._forms.post(url, body, merged, FORM_TYPE)

    async def aclose(self) -> None:
        if self._forms is not None:
            await self._forms.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
