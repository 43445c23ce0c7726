"""``GET /healthz``: whether this replica can serve now, for a load balancer and for the
container's healthcheck. 200 when its database answers (and, with ``REDIS_URL``, Redis does);
503 naming the part that does not, never with an address or a password."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.services.kiosk_state import KioskState, KioskStateUnavailable
from bot.storage.database import Database

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


def add_health_route(app: web.Application, database: Database, state: KioskState) -> None:
    async def health(request: web.Request) -> web.Response:
        checks: dict[str, str] = {}
        try:
            await database.fetch_one("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # any engine's error: the replica cannot serve
            log.warning("Health: the database does not answer: %s", type(exc).__name__)
            checks["database"] = "unreachable"
        try:
            checks["kiosk_state"] = await state.ping()
        except KioskStateUnavailable as exc:
            log.warning("Health: the kiosk's state does not answer: %s", exc)
            checks["kiosk_state"] = "unreachable"
        healthy = all(value != "unreachable" for value in checks.values())
        response = web.json_response(checks, status=200 if healthy else 503)
        response.headers["Cache-Control"] = "no-store"
        return response

    app.router.add_get(HEALTH_PATH, health)
