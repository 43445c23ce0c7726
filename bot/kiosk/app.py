"""The kiosk as an aiohttp sub-application, mounted at ``/kiosk/`` on the bot's web server.

The page and its scripts are static files of this package (jsQR vendored, nothing from a
CDN); the API is in ``bot.kiosk.api``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.config import Settings
from bot.kiosk.api import CONTEXT, MAX_BODY_BYTES, KioskContext, add_api_routes, kiosk_guard
from bot.loyalty.base import LoyaltyBackend
from bot.services.catalog import CampaignCatalog
from bot.services.kiosk import KioskDesk, KioskLimits
from bot.services.kiosk_pairing import KioskPairing
from bot.services.kiosk_state import KioskState, MemoryKioskState
from bot.services.signup_links import SignupLinks
from bot.services.staff_pin import StaffAccess
from bot.storage.database import Database
from bot.storage.kiosk_notices import PendingNotices
from bot.storage.kiosks import Kiosks
from bot.storage.timestamps import utc_now
from bot.wording.catalogs import I18n

STATIC_DIR = Path(__file__).resolve().parent / "static"
PREFIX = "/kiosk"
PAIRING_ATTEMPTS_PER_MINUTE = 10


def build_kiosk(
    settings: Settings,
    backend: LoyaltyBackend,
    database: Database,
    *,
    links: SignupLinks | None = None,
    i18n: I18n | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    state: KioskState | None = None,
) -> KioskContext:
    """Everything the kiosk pages need, from the settings. Visits, staff sessions, limits and
    PIN tries live in ``state``: by default Redis when ``REDIS_URL`` is set (every replica
    sees them), else this process (PIN tries in the database). ``KioskContext.aclose``
    closes it."""
    config = settings.kiosk
    kiosks = Kiosks(database, clock=clock)
    if state is None:
        state = kiosk_state(settings, clock)
    staff = StaffAccess(
        kiosks,
        default_pin=None if config.staff_pin is None else config.staff_pin.get_secret_value(),
        max_failures=config.pin_max_failures,
        lockout=dt.timedelta(minutes=config.pin_lockout_minutes),
        session_ttl=dt.timedelta(seconds=config.staff_session_seconds),
        clock=clock,
        attempts=state.pin_attempts,
        sessions=state.staff_sessions,
    )
    desk = KioskDesk(
        backend,
        kiosks,
        CampaignCatalog(
            backend, clock=clock, ttl=dt.timedelta(seconds=settings.cache.catalog_seconds)
        ),
        staff,
        limits=KioskLimits(
            lookups=config.lookup_limit,
            lookup_window=dt.timedelta(seconds=config.lookup_window_seconds),
            unknown_cards=config.unknown_card_limit,
            unknown_card_window=dt.timedelta(seconds=config.unknown_card_window_seconds),
        ),
        visit_ttl=dt.timedelta(seconds=max(config.staff_session_seconds, 4 * config.idle_seconds)),
        region=settings.default_region,
        campaign_ids=settings.campaign_ids,
        links=links,
        clock=clock,
        notices=PendingNotices(database, clock=clock),
        state=state,
    )
    if i18n is None:
        from bot.wording.catalogs import create_i18n

        i18n = create_i18n(settings.default_language)
    return KioskContext(
        desk=desk,
        pairing=KioskPairing(
            kiosks, pairing_ttl=dt.timedelta(hours=config.pairing_hours), clock=clock
        ),
        i18n=i18n,
        languages=tuple(settings.languages),
        default_language=settings.default_language,
        program_name=settings.program_name,
        idle_seconds=config.idle_seconds,
        pairing_attempts=state.window_limit(
            "pairing", PAIRING_ATTEMPTS_PER_MINUTE, dt.timedelta(minutes=1)
        ),
        state=state,
    )


def kiosk_state(settings: Settings, clock: Callable[[], dt.datetime] = utc_now) -> KioskState:
    """Redis when ``REDIS_URL`` is set (replicas share the kiosks), else this process."""
    if settings.redis_url is None:
        return MemoryKioskState(clock)
    from bot.storage.kiosk_state_redis import RedisKioskState

    return RedisKioskState.from_url(settings.redis_url.get_secret_value(), clock=clock)


async def _page(request: web.Request) -> web.FileResponse:
    response = web.FileResponse(STATIC_DIR / "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def create_kiosk_app(context: KioskContext) -> web.Application:
    """The kiosk sub-application; mount it with ``mount_kiosk``."""
    app = web.Application(middlewares=[kiosk_guard], client_max_size=MAX_BODY_BYTES)
    app[CONTEXT] = context
    app.router.add_get("/", _page)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    add_api_routes(app)
    return app


def mount_kiosk(root: web.Application, kiosk_app: web.Application) -> None:
    """Serve the kiosk at ``/kiosk/`` (and send ``/kiosk`` there)."""

    async def to_kiosk(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{PREFIX}/")

    root.router.add_get(PREFIX, to_kiosk)
    root.add_subapp(f"{PREFIX}/", kiosk_app)


def kiosk_url(settings: Settings, web_url: str) -> str:
    """Where the kiosk page is: the configured public address, else the local server."""
    base = str(settings.kiosk.public_url or web_url).rstrip("/")
    return f"{base}{PREFIX}/"
