"""The POS API as an aiohttp sub-application, mounted at ``/api/v1/`` on the bot's web server.

Each request is signed by its client (``X-Client-Id``, ``X-Timestamp``, ``X-Signature``:
hex HMAC-SHA256 of ``<timestamp>.<body>`` with the client's secret); the use cases are in
``bot.services.pos``. ``GET /api/v1/openapi.json`` describes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.api.openapi import OPENAPI
from bot.config import Settings
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.services.catalog import CampaignCatalog
from bot.services.pos import STATUS, PosAuth, PosDesk, PosRefusal
from bot.storage.api_clients import ApiClients, ApiRequests
from bot.storage.database import Database
from bot.storage.links import LinkRepository
from bot.storage.timestamps import Clock, utc_now

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY_BYTES = 16 * 1024
MASTER_KEY_NAME = "pos-api"


@dataclass
class PosContext:
    auth: PosAuth
    desk: PosDesk


POS = web.AppKey("pos", PosContext)


def api_master(settings: Settings, database: Database) -> Callable[[], Awaitable[bytes]]:
    """The key clients' secrets derive from: ``API__SECRET``, else one kept in the database."""
    configured = settings.api.secret

    async def master() -> bytes:
        if configured is not None:
            return configured.get_secret_value().encode()
        return await LinkRepository(database).installation_secret(MASTER_KEY_NAME)

    return master


def build_auth(settings: Settings, database: Database, *, clock: Clock = utc_now) -> PosAuth:
    return PosAuth(
        ApiClients(database, clock=clock),
        api_master(settings, database),
        window=dt.timedelta(seconds=settings.api.timestamp_window_seconds),
        clock=clock,
    )


def build_pos(
    settings: Settings,
    backend: LoyaltyBackend,
    database: Database,
    *,
    clock: Clock = utc_now,
) -> PosContext:
    auth = build_auth(settings, database, clock=clock)
    catalog = CampaignCatalog(
        backend, clock=clock, ttl=dt.timedelta(seconds=settings.cache.catalog_seconds)
    )
    desk = PosDesk(backend, catalog, ApiRequests(database, clock=clock), clock=clock)
    return PosContext(auth, desk)


def _refusal(code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=STATUS[code])


def _endpoint(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        context = request.app[POS]
        try:
            body = await request.read()
            client = await context.auth.verify(
                request.headers.get("X-Client-Id"),
                request.headers.get("X-Timestamp"),
                request.headers.get("X-Signature"),
                body,
            )
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise PosRefusal("invalid_json", "the body is not JSON") from None
            status, answer = await context.desk.handle(client, kind, payload)
        except PosRefusal as exc:
            log.info("POS %s refused (%s): %s", kind, exc.code, exc.message)
            return _refusal(exc.code, exc.message)
        except LoyaltyError as exc:
            log.warning("POS %s: the platform failed: %s", kind, exc.message)
            return _refusal("platform_unavailable", "the platform did not answer; try again")
        return web.json_response(answer, status=status)

    return handle


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def create_api_app(context: PosContext) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[POS] = context
    app.router.add_post("/purchases", _endpoint("purchase"))
    app.router.add_post("/redemptions", _endpoint("redemption"))
    app.router.add_get("/openapi.json", _openapi)
    return app


def mount_api(root: web.Application, api_app: web.Application) -> None:
    root.add_subapp(f"{PREFIX}/", api_app)
