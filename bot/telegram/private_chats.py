"""Member data only in the member's private chat with the bot.

In a group, supergroup or channel every handler is skipped: a command addressed to the bot is
answered with a button that opens the private chat, a button press with a note and the same
link, and anything else is ignored. Nothing there reads the member's data.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
)

from bot.telegram.i18n import _
from bot.telegram.middlewares import Handler

log = logging.getLogger(__name__)

PRIVATE_CHAT_PAYLOAD = "private"
"""The ``/start`` payload of the button: the private chat opens with the usual welcome."""


def private_chat_url(bot_username: str) -> str:
    return f"https://t.me/{bot_username}?start={PRIVATE_CHAT_PAYLOAD}"


def _addressed_command(text: str | None, bot_username: str) -> bool:
    """A command with no ``@mention`` or with this bot's."""
    if not text or not text.startswith("/"):
        return False
    _command, _at, mention = text.split(maxsplit=1)[0].partition("@")
    return not mention or mention.casefold() == bot_username.casefold()


class PrivateChatsOnly(BaseMiddleware):
    """Outer middleware for messages and button presses: only private chats reach handlers."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message):
            if event.chat.type == ChatType.PRIVATE:
                return await handler(event, data)
            await self._point_to_private_chat(event, data["bot"])
            return None
        if isinstance(event, CallbackQuery):
            message = event.message
            if message is not None and message.chat.type == ChatType.PRIVATE:
                return await handler(event, data)
            username = (await data["bot"].me()).username or ""
            await event.answer(
                _("Your card and balances are only shown in our private chat."),
                url=private_chat_url(username) if username else None,
            )
            return None
        return await handler(event, data)

    async def _point_to_private_chat(self, message: Message, bot: Bot) -> None:
        username = (await bot.me()).username or ""
        if not username or not _addressed_command(message.text, username):
            return
        log.info("A command in a %s chat was pointed to the private chat", message.chat.type)
        await bot.send_message(
            message.chat.id,
            _("Your card and balances are private: open our chat to see them."),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=_("🔒 Open private chat"), url=private_chat_url(username)
                        )
                    ]
                ]
            ),
        )
