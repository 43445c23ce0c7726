"""Kiosk fixtures: the kiosk sub-app mounted on a web server over loopback, on a temp SQLite
file and the Client Toolbox sandbox, with sandbox members.

Every kiosk test runs in its module's event loop (``loop_scope="module"``), so that the
browser tests can share one Playwright driver and one Chromium per module; the fixtures here
are per test but run in that same loop.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import SecretStr

from bot.config import HttpSettings, KioskSettings, Settings
from bot.kiosk.api import KEY_HEADER, KioskContext
from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember, Purchase
from bot.sandbox.clienttoolbox import create_app as create_sandbox
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.runner import serve
from bot.services.signup_links import SignupLinks
from bot.storage.database import Database, open_database
from bot.storage.kiosks import Kiosks
from bot.storage.links import LinkRepository
from tests.conftest import bot_database, ct_settings

CHROMIUM = Path("/usr/bin/chromium")
STAFF_PIN = "2468"
DEFAULT_PIN = "1357"
STORE = "Main Street"
BOT_USERNAME = "great_widgets_bot"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # In CI a missing browser is a broken set-up: the browser tests then fail, not skip.
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (/usr/bin/chromium)")
    here = Path(__file__).parent
    for item in items:
        if item.get_closest_marker("browser") and item.path.is_relative_to(here):
            item.add_marker(skip)


class MovableClock:
    """A clock tests can move forward; starts at the real current time."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


in_module_loop = pytest_asyncio.fixture(loop_scope="module")


@in_module_loop
async def ct_sandbox_url(tmp_path: Path) -> AsyncIterator[str]:
    async with serve(create_sandbox(tmp_path / "clienttoolbox-sandbox.db")) as url:
        yield url


@in_module_loop
async def ct_backend(ct_sandbox_url: str) -> AsyncIterator[ClientToolboxClient]:
    client = ClientToolboxClient(
        ct_settings(ct_sandbox_url), HttpSettings(connect_timeout=2, read_timeout=5)
    )
    try:
        yield client
    finally:
        await client.aclose()


@in_module_loop
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(bot_database(request, tmp_path / "loyalty-bot.db"))
    try:
        yield db
    finally:
        await db.close()


def kiosk_settings(**kiosk: Any) -> Settings:
    values: dict[str, Any] = {
        "idle_seconds": 30,
        "lookup_limit": 20,
        "unknown_card_limit": 3,
        "staff_pin": SecretStr(DEFAULT_PIN),
    }
    values.update(kiosk)
    return Settings(
        _env_file=None,
        kiosk=KioskSettings(**values),
        languages=["en", "ru", "es"],
        default_language="en",
    )


@dataclass
class KioskServer:
    url: str
    """The web server's base URL; the kiosk page is at ``{url}/kiosk/``."""
    context: KioskContext
    kiosks: Kiosks
    backend: LoyaltyBackend
    database: Database
    links: SignupLinks | None = None

    @property
    def page_url(self) -> str:
        return f"{self.url}/kiosk/"

    async def add_kiosk(self, store: str = STORE, *, pin: str | None = STAFF_PIN) -> str:
        """A new kiosk, paired; returns its key."""
        added = await self.context.pairing.add(store, pin=pin)
        paired = await self.context.pairing.pair(added.pairing_code)
        assert paired is not None
        return paired.key

    def client(self, key: str | None = None, **headers: str) -> httpx.AsyncClient:
        if key is not None:
            headers[KEY_HEADER] = key
        return httpx.AsyncClient(base_url=f"{self.url}/kiosk/", headers=headers, timeout=10)


KioskFactory = Callable[..., Any]


@in_module_loop
async def kiosk_factory(
    ct_backend: ClientToolboxClient, database: Database, clock: MovableClock
) -> AsyncIterator[Callable[..., Any]]:
    """Start kiosk servers with the given kiosk settings (and signup links)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:

        async def start(*, bot_username: str | None = BOT_USERNAME, **kiosk: Any) -> KioskServer:
            """``bot_username`` ``None``: no signup links at all."""
            links = None
            if bot_username is not None:
                repository = LinkRepository(database, clock=clock)
                links = SignupLinks(repository, bot_username=bot_username, clock=clock)
            context = build_kiosk(
                kiosk_settings(**kiosk), ct_backend, database, links=links, clock=clock
            )
            root = web.Application()
            mount_kiosk(root, create_kiosk_app(context))
            url = await stack.enter_async_context(serve(root))
            return KioskServer(
                url, context, Kiosks(database, clock=clock), ct_backend, database, links
            )

        yield start


@in_module_loop
async def kiosk_server(kiosk_factory: Callable[..., Any]) -> KioskServer:
    server: KioskServer = await kiosk_factory()
    return server


@dataclass(frozen=True)
class SandboxMember:
    code: str
    card_number: str
    first_name: str
    phone: str


@in_module_loop
async def member(ct_backend: ClientToolboxClient) -> SandboxMember:
    """A sandbox member with a phone, 450 points and 6 visits."""
    created = await ct_backend.enroll(
        NewMember(
            code="7000000000000001",
            first_name="Jane",
            last_name="Kioskova",
            phone="+12025550155",
            email="jane.kioskova@example.com",
            campaign_ids=(demo.POINTS_CAMPAIGN, demo.EVENTS_CAMPAIGN, demo.BUYX_CAMPAIGN),
        )
    )
    await ct_backend.record_purchase(
        created.code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("4.50"))
    )
    for _ in range(6):
        await ct_backend.record_purchase(created.code, Purchase(campaign_id=demo.EVENTS_CAMPAIGN))
    assert created.card_number
    return SandboxMember(created.code, created.card_number, "Jane", "+12025550155")


async def points_of(backend: LoyaltyBackend, code: str) -> Decimal:
    for balance in await backend.balances(code):
        if balance.campaign_id == demo.POINTS_CAMPAIGN:
            return balance.points  # type: ignore[union-attr]
    raise AssertionError("no points balance")
