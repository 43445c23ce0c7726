"""Flow-test fixtures: the real Dispatcher on a temp SQLite file, the real Client Toolbox
client on the sandbox over loopback, and a Bot whose session is the in-process fake."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from pydantic import SecretStr

from bot.config import Settings
from bot.loyalty.base import LoyaltyBackend
from bot.storage.database import Database, open_database
from bot.telegram.dispatcher import build_bot, build_dispatcher
from tests.conftest import bot_database
from tests.telegram.chat import TelegramUser
from tests.telegram.fake_telegram import FakeTelegram


class MovableClock:
    """A clock tests can move forward; starts at the real current time."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class BotUnderTest:
    dispatcher: Dispatcher
    bot: Bot
    telegram: FakeTelegram
    db: Database

    def user(self, user_id: int = 1001, **kwargs: object) -> TelegramUser:
        return TelegramUser(self.dispatcher, self.bot, self.telegram, user_id=user_id, **kwargs)  # type: ignore[arg-type]


class EmailCodeLog(logging.Handler):
    """Collects the demo-mode code lines the bot writes instead of sending email."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "Demo mode" in record.msg:
            self.codes.append(str(record.args[-1]))  # type: ignore[index]

    @property
    def last(self) -> str:
        assert self.codes, "no code was written to the log"
        return self.codes[-1]


@pytest.fixture
def email_codes() -> Iterator[EmailCodeLog]:
    handler = EmailCodeLog()
    logger = logging.getLogger("bot.services.verification")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def settings() -> Settings:
    # The embedded platform: email joining in demo mode (codes go to the log).
    return Settings(_env_file=None, platform="sandbox", bot_token=SecretStr("123456:TEST"))  # type: ignore[call-arg]


async def start_bot(
    settings: Settings, backend: LoyaltyBackend, db_path: Path | str, clock: MovableClock
) -> BotUnderTest:
    db = await open_database(db_path)
    telegram = FakeTelegram()
    bot = build_bot(settings, session=telegram)
    dispatcher = build_dispatcher(settings, backend=backend, db=db, clock=clock)
    return BotUnderTest(dispatcher, bot, telegram, db)


async def stop_bot(running: BotUnderTest) -> None:
    await running.dispatcher.emit_shutdown(bot=running.bot, **running.dispatcher.workflow_data)
    await running.db.close()


@pytest.fixture
async def app(
    settings: Settings,
    ct_backend: LoyaltyBackend,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: MovableClock,
) -> AsyncIterator[BotUnderTest]:
    running = await start_bot(
        settings, ct_backend, bot_database(request, tmp_path / "bot.db"), clock
    )
    try:
        yield running
    finally:
        if not running.db.closed:
            await stop_bot(running)


@pytest.fixture
def jane(app: BotUnderTest) -> TelegramUser:
    return app.user(1001, first_name="Jane", last_name="Doe")
