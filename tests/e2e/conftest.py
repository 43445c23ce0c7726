"""End-to-end fixtures: the real bot long polling the local Telegram stand-in, on the sandbox
platform, all served on loopback by the product's own composition root (``bot.app``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher

from bot.app import Running, poll, start_services, start_telegram
from bot.config import Settings
from bot.devtools.telegram_standin import TelegramStandIn

SETTING_NAMES = frozenset(Settings.model_fields)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright")


def clean_environment() -> dict[str, str]:
    """This process's environment without any of the bot's settings (no token, no platform)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.lower().split("__")[0] not in SETTING_NAMES
    }


@pytest.fixture
def default_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings of a fresh checkout: nothing configured, files under ``tmp_path``."""
    for name in os.environ.keys() - clean_environment().keys():
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Settings(_env_file=None, database=tmp_path / "data" / "loyalty-bot.db", port=0)


@dataclass
class LiveBot:
    running: Running
    standin: TelegramStandIn
    bot: Bot
    dispatcher: Dispatcher
    polling: asyncio.Task[None]
    stopping: asyncio.Event

    async def stop(self) -> None:
        """What Ctrl-C does: stop polling, then wait for the updates in flight."""
        self.stopping.set()
        await asyncio.wait_for(self.polling, 15)


@asynccontextmanager
async def polling_product(
    settings: Settings, standin: TelegramStandIn | None = None
) -> AsyncIterator[LiveBot]:
    """The product as ``loyalty-bot run`` composes it, polling for the block's length.

    ``standin`` is the Telegram side the test drives when the product does not embed one
    (a token and ``TELEGRAM_API_URL`` pointing at a stand-in served by the test).
    """
    async with start_services(settings) as (running, stack):
        driver = running.standin or standin
        assert driver is not None, "no stand-in to drive"
        bot, dispatcher = await start_telegram(running, stack)
        stopping = asyncio.Event()
        polling = asyncio.create_task(poll(bot, dispatcher, stop=stopping, handle_signals=False))
        live = LiveBot(running, driver, bot, dispatcher, polling, stopping)
        await driver.wait_for_call("getUpdates", timeout=15)
        yield live
        if not polling.done():
            await live.stop()
        polling.result()
    broken = [call.method for call in driver.calls if call.status >= 500]
    assert not broken, f"the stand-in failed on {broken}"


def assert_no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"errors were logged: {errors}"


@pytest.fixture
async def live_bot(
    default_settings: Settings, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[LiveBot]:
    """The product on defaults: sandbox platform, local stand-in, polling until the test ends."""
    caplog.set_level(logging.INFO)
    async with polling_product(default_settings) as live:
        assert live.running.standin is not None, "no token configured, yet no stand-in"
        yield live
    assert_no_errors_logged(caplog)
