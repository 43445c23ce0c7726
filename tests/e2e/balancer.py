"""A round-robin load balancer for the replica tests: an aiohttp app in front of several bot
processes (or in-process replicas), recording who took each request."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import ClientConnectorError, ClientError, ClientSession, web

WEBHOOK_PATH = "/telegram/webhook"

# Not forwarded as they came: they describe one connection, not the request.
HOP_BY_HOP = frozenset(
    ("host", "connection", "keep-alive", "content-length", "transfer-encoding", "upgrade")
)


@dataclass(frozen=True)
class Forwarded:
    """One request the balancer passed on, and to whom."""

    replica: str
    method: str
    path: str
    body: bytes
    status: int


class RoundRobin:
    """The load balancer: each request goes to the next replica, as it came; a replica that
    refuses the connection (it is down) is skipped for the next, as a health check would.
    A replica that drops a request it had taken is answered 502: the request may have been
    acted on, so it is not sent again (Telegram sends an unanswered update again itself)."""

    def __init__(self) -> None:
        self.replicas: list[str] = []
        self.forwarded: list[Forwarded] = []
        self.refused: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self._turn = 0
        self._session: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        app.cleanup_ctx.append(self._client)
        return app

    async def _client(self, app: web.Application) -> AsyncIterator[None]:
        async with ClientSession() as self._session:
            yield

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        for _ in range(len(self.replicas)):
            replica = self.replicas[self._turn % len(self.replicas)]
            self._turn += 1
            try:
                async with self._session.request(
                    request.method, replica + request.path_qs, data=body, headers=headers
                ) as answer:
                    payload = await answer.read()
                    kind = answer.headers.get("Content-Type")
            except ClientConnectorError:
                self.refused[replica] += 1
                continue
            except (ClientError, TimeoutError):
                self.dropped[replica] += 1
                return web.Response(status=502, text="the replica dropped the request")
            self.forwarded.append(
                Forwarded(replica, request.method, request.path, body, answer.status)
            )
            return web.Response(
                status=answer.status, body=payload, headers={"Content-Type": kind} if kind else {}
            )
        return web.Response(status=502, text="no replica up")

    def replicas_of(self, path: str, since: int = 0) -> list[str]:
        """Who took each request on ``path`` (from the ``since``-th request on), in order."""
        return [f.replica for f in self.forwarded[since:] if f.path == path]

    def update_replicas(self, user_id: int) -> list[str]:
        """Who took each of a user's updates (answered 200), in order."""
        taken = []
        for f in self.forwarded:
            if f.path != WEBHOOK_PATH or f.status != 200:
                continue
            update = json.loads(f.body)
            sender = next(
                (part["from"]["id"] for part in update.values() if isinstance(part, dict)),
                None,
            )
            if sender == user_id:
                taken.append(f.replica)
        return taken

    @property
    def hits(self) -> Counter[str]:
        """How many requests each replica took."""
        return Counter(f.replica for f in self.forwarded)
