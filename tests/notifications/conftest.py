"""Balance-message fixtures: the flow-test bot of ``tests/telegram`` (real Dispatcher on a
SQLite file, the Client Toolbox sandbox over loopback, the in-process fake Bot API) with the
kiosk served beside it on the same database, its notifier connected as ``run`` connects it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.api.app import PosContext, build_pos, create_api_app, mount_api
from bot.config import KioskSettings, Settings
from bot.kiosk.api import KEY_HEADER, STAFF_HEADER, KioskContext
from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import PointsBalance
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.runner import serve
from bot.telegram.balance_messages import connect_balance_messages
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot

STAFF_PIN = "2468"
JANE_ID = 1001
JANE_PHONE = "12025550177"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def notice_settings() -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        platform="sandbox",
        bot_token=SecretStr("123456:TEST"),
        bot_username="great_widgets_bot",
        languages=["en", "ru", "es"],
        default_language="en",
        kiosk=KioskSettings(staff_pin=SecretStr(STAFF_PIN), lookup_limit=50),
    )


@dataclass
class Shop:
    """The bot and a kiosk on one database, as ``run`` serves them."""

    settings: Settings
    backend: LoyaltyBackend
    db_path: Path
    clock: MovableClock
    app: BotUnderTest
    kiosk: KioskContext
    kiosk_url: str
    stack: AsyncExitStack
    pos: PosContext

    async def restart(self) -> None:
        """Stop the bot (its database closed) and start it again on the same file."""
        await stop_bot(self.app)
        self.app = await start_bot(self.settings, self.backend, self.db_path, self.clock)
        notifier = connect_balance_messages(self.app.bot, self.app.dispatcher)
        self.kiosk.desk.set_notifier(notifier)
        self.pos.desk.set_notifier(notifier)

    async def staff(self, card_number: str) -> tuple[httpx.AsyncClient, str]:
        """A paired kiosk's client in staff mode, and a visit of the member with that card."""
        added = await self.kiosk.pairing.add("Main Street", pin=STAFF_PIN)
        paired = await self.kiosk.pairing.pair(added.pairing_code)
        assert paired is not None
        http = httpx.AsyncClient(
            base_url=f"{self.kiosk_url}/kiosk/", headers={KEY_HEADER: paired.key}, timeout=10
        )
        self.stack.push_async_callback(http.aclose)
        looked_up = await http.post("api/lookup", json={"card": card_number})
        assert looked_up.status_code == 200, looked_up.text
        unlocked = await http.post("api/staff/unlock", json={"pin": STAFF_PIN})
        http.headers[STAFF_HEADER] = unlocked.json()["staff"]
        return http, str(looked_up.json()["visit"])


@pytest.fixture
async def shop(
    ct_backend: LoyaltyBackend, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[Shop]:
    settings = notice_settings()
    db_path = tmp_path / "bot.db"
    app = await start_bot(settings, ct_backend, db_path, clock)
    async with AsyncExitStack() as stack:
        kiosk = build_kiosk(settings, ct_backend, app.db, clock=clock)
        root = web.Application()
        mount_kiosk(root, create_kiosk_app(kiosk))
        pos = build_pos(settings, ct_backend, app.db, clock=clock)
        mount_api(root, create_api_app(pos))
        url = await stack.enter_async_context(serve(root))
        notifier = connect_balance_messages(app.bot, app.dispatcher)
        kiosk.desk.set_notifier(notifier)
        pos.desk.set_notifier(notifier)
        shop = Shop(settings, ct_backend, db_path, clock, app, kiosk, url, stack, pos)
        try:
            yield shop
        finally:
            await stack.aclose()
            if not shop.app.db.closed:
                await stop_bot(shop.app)


async def points(backend: LoyaltyBackend, code: str) -> Decimal:
    for balance in await backend.balances(code):
        if isinstance(balance, PointsBalance) and balance.campaign_id == demo.POINTS_CAMPAIGN:
            return balance.points
    return Decimal(0)
