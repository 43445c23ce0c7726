"""Composition root: builds storage, the platform client, the Bot, the Dispatcher and the web app.

``run`` starts what the settings ask for. With nothing configured it starts the embedded
sandbox platform and the local Telegram stand-in with its browser chat page, all in one process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from bot.config import Settings
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.platforms import create_backend, embedded_platform
from bot.sandbox.runner import serve

log = logging.getLogger(__name__)

STANDIN_TOKEN = "123456:local-standin-token"
"""The bot token used against the local Telegram stand-in (it is not a Telegram secret)."""


@dataclass(frozen=True)
class Running:
    settings: Settings
    backend: LoyaltyBackend
    web_url: str
    telegram_api_url: str | None
    """The Bot API base the bot talks to; ``None`` means Telegram's own (or the configured one)."""


@asynccontextmanager
async def start_services(settings: Settings) -> AsyncIterator[tuple[Running, AsyncExitStack]]:
    """Start the platform (or its sandbox), the web server and, with no token, the stand-in."""
    async with AsyncExitStack() as stack:
        if settings.uses_embedded_platform:
            settings = await stack.enter_async_context(embedded_platform(settings))
        backend = create_backend(settings)
        stack.push_async_callback(backend.aclose)

        if settings.uses_embedded_telegram:
            from bot.devtools.telegram_standin import create_app as create_standin

            # The stand-in is the root app: the Bot API lives at /bot<token>/, the page at /chat.
            web_app = create_standin(STANDIN_TOKEN)
        else:
            web_app = web.Application()
        web_url = await stack.enter_async_context(serve(web_app, settings.host, settings.port))
        telegram_api_url = web_url if settings.uses_embedded_telegram else None
        yield Running(settings, backend, web_url, telegram_api_url), stack


async def run(settings: Settings) -> None:
    from bot.storage.database import open_database
    from bot.telegram.dispatcher import build_bot, build_dispatcher

    async with start_services(settings) as (running, stack):
        db = await open_database(settings.database)
        stack.push_async_callback(db.close)
        token = None if running.telegram_api_url is None else STANDIN_TOKEN
        bot = build_bot(running.settings, api_base_url=running.telegram_api_url, token=token)
        stack.push_async_callback(bot.session.close)
        dispatcher = build_dispatcher(running.settings, backend=running.backend, db=db)
        if running.telegram_api_url is not None:
            print(f"Chat page (local Telegram stand-in): {running.web_url}/chat")
        print("Press Ctrl-C to stop.")
        await dispatcher.start_polling(bot)


async def doctor(settings: Settings) -> int:
    """Check the configuration and reach the platform; print a line per check."""
    print(f"configuration: ok (platform={settings.platform.value})")
    async with start_services(settings) as (running, _):
        try:
            campaigns = await running.backend.campaigns()
        except LoyaltyError as exc:
            print(f"platform: FAILED ({type(exc).__name__}: {exc.message})")
            return 1
        print(f"platform: ok ({len(campaigns)} campaigns)")
        for campaign in campaigns:
            print(f"  - {campaign.id} {campaign.kind.value}: {campaign.name}")
    telegram = "local stand-in" if settings.uses_embedded_telegram else "Telegram"
    print(f"telegram: {telegram}")
    return 0
