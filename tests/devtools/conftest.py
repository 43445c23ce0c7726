from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.devtools.telegram_standin import STANDIN, TelegramStandIn, create_app
from bot.sandbox.runner import serve
from tests.devtools.standin_bot import build_router

TOKEN = "4242424242:stand-in-test-token"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright")


@dataclass
class StandInServer:
    standin: TelegramStandIn
    url: str


@dataclass
class PollingBot:
    standin: TelegramStandIn
    url: str
    bot: Bot


def make_bot(url: str, token: str = TOKEN) -> Bot:
    return Bot(
        token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(url)),
        default=DefaultBotProperties(parse_mode="HTML"),
    )


@pytest.fixture
async def standin_server() -> AsyncIterator[StandInServer]:
    app = create_app(TOKEN)
    async with serve(app) as url:
        yield StandInServer(app[STANDIN], url)
    failed = [call.method for call in app[STANDIN].calls if call.status >= 500]
    assert not failed, f"the stand-in broke on {failed}"


@pytest.fixture
async def polling_bot(standin_server: StandInServer) -> AsyncIterator[PollingBot]:
    """The tiny test bot, long polling the stand-in for the length of the test."""
    bot = make_bot(standin_server.url)
    dispatcher = Dispatcher()
    dispatcher.include_router(build_router())
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    dispatcher.startup.register(on_startup)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    await asyncio.wait_for(started.wait(), 5)
    await standin_server.standin.wait_for_call("getUpdates")
    yield PollingBot(standin_server.standin, standin_server.url, bot)
    await dispatcher.stop_polling()
    await polling
