"""An HTTP transport to the sandbox that loses an answer the platform did send (a timeout after
the platform acted), for the tests of retries that must not make a member twice."""

from __future__ import annotations

import httpx


class LosesCreateAnswers(httpx.AsyncHTTPTransport):
    """Delivers requests to the sandbox but loses the answer of the next member create."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_next_create = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.lose_next_create and b"record_customer" in request.content:
            self.lose_next_create = False
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response
