"""Filters for what a member types, as opposed to commands and button presses."""

from __future__ import annotations

import re

from aiogram.filters import Filter
from aiogram.types import Message
from aiogram.utils.i18n import I18n

from bot.telegram.i18n import ButtonText
from bot.telegram.keyboards import ALL_BUTTONS

_ANY_BUTTON = ButtonText(*ALL_BUTTONS)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]{7,20}$")


class TypedText(Filter):
    """Plain typed text: not a command and not the text of one of the bot's buttons."""

    async def __call__(self, message: Message, i18n: I18n) -> bool:
        text = message.text
        if not text or text.startswith("/"):
            return False
        return text not in _ANY_BUTTON.texts(i18n)


class PhoneLikeText(Filter):
    """Typed text that looks like a phone number (which never counts as a proven phone)."""

    async def __call__(self, message: Message) -> bool:
        text = message.text or ""
        return bool(_PHONE_LIKE.match(text.strip())) and sum(ch.isdigit() for ch in text) >= 7
