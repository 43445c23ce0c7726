"""Finishing joins the platform could not take at the time, without waiting for "Try again".

``finish_pending_joins`` completes every due join once (each with the member code chosen
before its first call, so none is created twice) and sends the member their card.
``keep_finishing_pending_joins`` repeats that until cancelled; ``bot.app`` may run it as a
task beside polling.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.loyalty.errors import LoyaltyError, Unavailable
from bot.services.enrollment import Enrollment, JoinRequest
from bot.storage.cards import CardImages
from bot.storage.members import MemberLinks
from bot.telegram.routers.start import deliver_joined

log = logging.getLogger(__name__)

RETRY_EVERY = 60.0


async def finish_pending_joins(bot: Bot, dispatcher: Dispatcher) -> int:
    """Complete the due pending joins; returns how many were completed.

    Stops at the first ``Unavailable``: the platform is still down, the rest wait.
    """
    enrollment: Enrollment = dispatcher["enrollment"]
    links: MemberLinks = dispatcher["links"]
    i18n: I18n = dispatcher["i18n"]
    settings: Settings = dispatcher["settings"]
    card_images: CardImages = dispatcher["card_images"]
    completed = 0
    for pending in await enrollment.due():
        user_id = pending.telegram_user_id
        try:
            joined = await enrollment.resume(user_id, due_only=True)
        except Unavailable as exc:
            log.info("Pending joins wait: the platform is still unavailable (%s)", exc.message)
            break
        except LoyaltyError as exc:
            log.warning("Pending join of Telegram user %s failed: %s", user_id, exc.message)
            continue
        if joined is None:
            continue
        completed += 1
        language = (
            await links.get_language(user_id)
            or JoinRequest.from_json(pending.payload_json).language
            or i18n.default_locale
        )
        with i18n.context(), i18n.use_locale(language):
            try:
                await deliver_joined(bot, user_id, joined, settings, card_images)
            except TelegramAPIError as exc:
                log.warning(
                    "Joined Telegram user %s, but could not send the card: %s", user_id, exc
                )
    return completed


async def keep_finishing_pending_joins(
    bot: Bot, dispatcher: Dispatcher, every: float = RETRY_EVERY
) -> None:
    while True:
        try:
            await finish_pending_joins(bot, dispatcher)
        except Exception:
            log.exception("Finishing pending joins failed; trying again later")
        await asyncio.sleep(every)
