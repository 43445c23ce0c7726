"""Middlewares of the chat side: who the member is, members-only handlers, platform failures."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
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


async def answer(event: TelegramObject, text: str, **kwargs: Any) -> None:
    """Answer a message or a button press in the same chat."""
    if isinstance(event, Message):
        await event.answer(text, **kwargs)
    elif isinstance(event, CallbackQuery):
        if event.message is not None:
            await event.bot.send_message(event.message.chat.id, text, **kwargs)  # type: ignore[union-attr]
        else:
            await event.bot.send_message(event.from_user.id, text, **kwargs)  # type: ignore[union-attr]


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
            await answer(event, text, reply_markup=markup)
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
