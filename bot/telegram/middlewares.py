"""Middlewares of the chat side: who the member is, members-only handlers, platform failures."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject, User

from bot.loyalty.errors import LoyaltyError, NotFound, Unavailable
from bot.storage.members import MemberLinks
from bot.telegram.callbacks import RetryAction
from bot.telegram.i18n import _
from bot.telegram.keyboards import join_keyboard, try_again
from bot.telegram.texts import join_help

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

SAVING_ACTIONS = frozenset({RetryAction.JOIN, RetryAction.PROFILE_SAVE})
"""Retries of work whose input the bot has kept ("Your details are saved")."""


async def answer(bot: Bot, event: TelegramObject, text: str, **kwargs: Any) -> None:
    """Answer a message or a button press in the chat it came from."""
    if isinstance(event, Message):
        chat_id = event.chat.id
    elif isinstance(event, CallbackQuery):
        chat_id = event.message.chat.id if event.message is not None else event.from_user.id
    else:
        return
    await bot.send_message(chat_id, text, **kwargs)


class MemberLinkMiddleware(BaseMiddleware):
    """Puts the user's ``MemberLink`` (or ``None``) into the handler data as ``link``."""

    def __init__(self, links: MemberLinks) -> None:
        self._links = links

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        data["link"] = None if user is None else await self._links.get(user.id)
        return await handler(event, data)


class MembersOnly(BaseMiddleware):
    """Handlers flagged ``member`` need a linked member; others are invited to join."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if get_flag(data, "member") and data.get("link") is None:
            email_joining = data["verification"] is not None
            await answer(
                data["bot"],
                event,
                join_help(data["settings"].program_name, email=email_joining),
                reply_markup=join_keyboard(email=email_joining),
            )
            return None
        return await handler(event, data)


class PlatformErrors(BaseMiddleware):
    """Turns platform failures into a translated sentence; the platform's text goes to the log.

    ``Unavailable`` gets a "🔄 Try again" button for the handler's ``retry`` flag; the FSM
    state and any pending join stay as they were, so the retry carries on from there.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except LoyaltyError as exc:
            action = RetryAction(get_flag(data, "retry", default=RetryAction.MENU))
            log.warning(
                "Platform error (%s) in %s: %s", type(exc).__name__, action.value, exc.message
            )
            text, markup = platform_failure(exc, action)
            await answer(data["bot"], event, text, reply_markup=markup)
            return None


def platform_failure(
    exc: LoyaltyError, action: RetryAction
) -> tuple[str, InlineKeyboardMarkup | None]:
    if isinstance(exc, Unavailable):
        if action in SAVING_ACTIONS:
            text = _(
                "We can't reach the rewards system right now. Your details are saved — "
                "try again in a minute."
            )
        else:
            text = _("We can't reach the rewards system right now. Please try again in a minute.")
        return text, try_again(action)
    if isinstance(exc, NotFound):
        return _(
            "We couldn't find your card in the rewards program. Please type /start to join again."
        ), None
    return _("The rewards system couldn't do that just now. Please try again later."), None
