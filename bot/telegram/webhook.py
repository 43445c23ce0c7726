"""Receiving updates by webhook: the route Telegram posts to, on the product's own web server.

The route exists before the server starts (aiohttp cannot add routes later) and answers 503
until the bot is attached, and again once it is stopping, so Telegram keeps those updates and
delivers them again: to another replica behind the load balancer, or to this one after a
restart. An accepted update is answered at once and handled in the background; a stop waits
for the ones being handled.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiohttp import web

from bot.config import Settings

log = logging.getLogger(__name__)

DEFAULT_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_address(settings: Settings) -> tuple[str, str]:
    """The public URL given to Telegram and the path this server answers on."""
    url = settings.webhook.url
    if url is None:
        raise ValueError("no webhook configured")
    public = str(url).rstrip("/")
    if not url.path or url.path == "/":
        return public + DEFAULT_PATH, DEFAULT_PATH
    return public, url.path.rstrip("/")


def webhook_secret(settings: Settings, bot_token: str) -> str:
    """The configured secret, else one derived from the token (the same on every replica)."""
    if settings.webhook.secret is not None:
        return settings.webhook.secret.get_secret_value()
    return hmac.new(bot_token.encode(), b"loyalty-bot webhook", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Receiver:
    bot: Bot
    dispatcher: Dispatcher
    secret: bytes


class WebhookEndpoint:
    def __init__(self, path: str) -> None:
        self.path = path
        self._receiver: _Receiver | None = None
        self._handling: set[asyncio.Task[None]] = set()

    def register(self, app: web.Application) -> None:
        app.router.add_post(self.path, self._receive)

    def open(self, bot: Bot, dispatcher: Dispatcher, secret: str) -> None:
        self._receiver = _Receiver(bot, dispatcher, secret.encode())

    def close(self) -> None:
        """Refuse new updates (Telegram delivers them again later); see ``drain``."""
        self._receiver = None

    @property
    def handling(self) -> int:
        return len(self._handling)

    async def drain(self, seconds: float) -> bool:
        """Wait for the updates being handled; ``False`` if some still are after ``seconds``."""
        if not self._handling:
            return True
        _, pending = await asyncio.wait(set(self._handling), timeout=seconds)
        return not pending

    async def _receive(self, request: web.Request) -> web.Response:
        receiver = self._receiver
        if receiver is None:
            return web.Response(status=503, text="Not receiving updates now; try again")
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, receiver.secret):
            return web.Response(status=401, text="Unauthorized")
        try:
            update = await request.json()
        except ValueError:
            return web.Response(status=400, text="Not JSON")
        if not isinstance(update, dict):
            return web.Response(status=400, text="Not an update")
        task = asyncio.create_task(self._handle(receiver, update))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)
        return web.json_response({})

    async def _handle(self, receiver: _Receiver, update: dict[str, Any]) -> None:
        bot, dispatcher = receiver.bot, receiver.dispatcher
        try:
            result = await dispatcher.feed_raw_update(bot, update)
            if isinstance(result, TelegramMethod):
                await dispatcher.silent_call_request(bot, result)
        except Exception:
            log.exception("Update %s could not be handled", update.get("update_id"))
