"""The stand-in as an aiohttp application: the Bot API at ``/bot<token>/<method>``, the chat page
at ``/chat``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web

from bot.devtools.telegram_standin.bot_api import make_handler
from bot.devtools.telegram_standin.chat_page import install_chat_page
from bot.devtools.telegram_standin.photos import MAX_PHOTO_BYTES
from bot.devtools.telegram_standin.records import DEMO_USERS, DemoUser
from bot.devtools.telegram_standin.state import TelegramStandIn
from bot.devtools.telegram_standin.webhook import webhook_delivery

logger = logging.getLogger(__name__)

STANDIN = web.AppKey("telegram_standin", TelegramStandIn)
DEFAULT_TOKEN = "1000000001:local-telegram-stand-in"
"""A token in Telegram's shape for running the bot against the stand-in without a real one."""


def create_app(
    token: str,
    *,
    bot_username: str = "great_widgets_bot",
    bot_first_name: str = "Great Widgets Rewards",
    users: Iterable[DemoUser] = DEMO_USERS,
) -> web.Application:
    """The fake Bot API and chat page; the ``TelegramStandIn`` driver is ``app[STANDIN]``."""
    standin = TelegramStandIn(
        token, bot_username=bot_username, bot_first_name=bot_first_name, users=users
    )
    app = web.Application(client_max_size=MAX_PHOTO_BYTES + 1024 * 1024)
    app[STANDIN] = standin
    bot_api = make_handler(standin)
    app.router.add_route("POST", "/bot{token}/{method}", bot_api)
    app.router.add_route("GET", "/bot{token}/{method}", bot_api)
    install_chat_page(app, standin)

    async def release_long_polls(app: web.Application) -> None:
        await standin.close()

    app.on_shutdown.append(release_long_polls)
    app.cleanup_ctx.append(webhook_delivery(standin))
    return app


async def run_standin(
    host: str = "127.0.0.1",
    port: int = 8081,
    token: str = DEFAULT_TOKEN,
    *,
    bot_username: str = "great_widgets_bot",
) -> None:
    """Serve the stand-in until cancelled."""
    runner = web.AppRunner(create_app(token, bot_username=bot_username), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    logger.info(
        "Telegram stand-in: Bot API at http://%s:%d, chat page at http://%s:%d/chat",
        host,
        port,
        host,
        port,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
