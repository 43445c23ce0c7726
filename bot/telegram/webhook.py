"""Receiving updates by webhook: the route Telegram posts to, on the product's own web server.

The route exists before the server starts (aiohttp cannot add routes later) and answers 503
until the inbox is attached, and again once it is stopping, so Telegram keeps those updates and
delivers them again: to another replica behind the load balancer, or to this one after a
restart. An accepted update is stored in the inbox before it is answered 200 (a failed write
answers 500, so Telegram sends it again), then handled in the background from the inbox.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.config import Settings
from bot.telegram.inbox import MAX_WAITING, UpdateInbox

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
    updates: UpdateInbox
    secret: bytes


class WebhookEndpoint:
    def __init__(self, path: str) -> None:
        self.path = path
        self._receiver: _Receiver | None = None

    def register(self, app: web.Application) -> None:
        app.router.add_post(self.path, self._receive)

    def open(self, updates: UpdateInbox, secret: str) -> None:
        self._receiver = _Receiver(updates, secret.encode())

    def close(self) -> None:
        """Refuse new updates (Telegram delivers them again later); then stop the inbox."""
        self._receiver = None

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
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400, text="Not an update")
        if not receiver.updates.accepting or receiver.updates.waiting >= MAX_WAITING:
            # Telegram keeps the update and sends it again later (or to another replica).
            return web.Response(status=503, text="Not receiving updates now; try again")
        try:
            await receiver.updates.receive([update])
        except Exception:
            log.exception(
                "Update %s could not be stored; Telegram sends it again", update["update_id"]
            )
            return web.Response(status=500, text="Not stored; try again")
        return web.json_response({})
