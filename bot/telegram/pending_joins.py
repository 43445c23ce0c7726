"""Finishing joins the platform could not take at the time, without waiting for "Try again".

``finish_pending_joins`` completes every due join once (each with the member code chosen
before its first call, so none is created twice), a few at a time, and queues the member's
card in the outbox. ``keep_finishing_pending_joins`` repeats that until cancelled: batch after
batch while joins complete (a backlog drains as fast as the platform answers), and, while the
platform is down, asking again after a wait that grows from a few seconds to a minute.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.loyalty.errors import LoyaltyError, Unavailable
from bot.services.enrollment import Enrollment, JoinRequest
from bot.storage.joins import PendingJoin
from bot.storage.members import MemberLinks
from bot.telegram.outbox import Outbox
from bot.telegram.routers.start import deliver_joined

log = logging.getLogger(__name__)

RETRY_EVERY = 60.0
"""The longest wait between two looks at the pending joins."""
FIRST_RETRY = 5.0
"""The first wait after the platform was found unavailable; doubled each time up to
``RETRY_EVERY``."""
AT_ONCE = 8
"""Joins finished in parallel (the platform's round trip, not the bot, is the limit)."""
BATCH = 100


class _PlatformDown(Exception):
    pass


async def _finish_one(dispatcher: Dispatcher, bot: Bot, pending: PendingJoin) -> bool:
    enrollment: Enrollment = dispatcher["enrollment"]
    links: MemberLinks = dispatcher["links"]
    i18n: I18n = dispatcher["i18n"]
    settings: Settings = dispatcher["settings"]
    outbox: Outbox = dispatcher["outbox"]
    user_id = pending.telegram_user_id
    try:
        joined = await enrollment.finish_taken(pending)
    except Unavailable as exc:
        log.info("Pending joins wait: the platform is still unavailable (%s)", exc.message)
        raise _PlatformDown from exc
    except LoyaltyError as exc:
        log.warning("Pending join of Telegram user %s failed: %s", user_id, exc.message)
        return False
    language = (
        await links.get_language(user_id)
        or JoinRequest.from_json(pending.payload_json).language
        or i18n.default_locale
    )
    with i18n.context(), i18n.use_locale(language):
        try:
            await deliver_joined(bot, user_id, joined, settings, outbox)
        except TelegramAPIError as exc:
            log.warning("Joined Telegram user %s, but could not send the card: %s", user_id, exc)
    return True


async def finish_pending_joins(
    bot: Bot,
    dispatcher: Dispatcher,
    *,
    at_once: int = AT_ONCE,
    limit: int = BATCH,
    stop: asyncio.Event | None = None,
) -> int:
    """Complete the due pending joins (at most ``limit``); returns how many were completed.

    Stops starting new ones at the first ``Unavailable`` (the platform is still down, the
    rest wait) or once ``stop`` is set; those already under way finish.
    """
    enrollment: Enrollment = dispatcher["enrollment"]
    due = await enrollment.take_due(limit)
    slots = asyncio.Semaphore(at_once)
    down = asyncio.Event()
    stop = stop or asyncio.Event()

    async def finish(pending: PendingJoin) -> bool:
        async with slots:
            if down.is_set() or stop.is_set():
                return False
            try:
                return await _finish_one(dispatcher, bot, pending)
            except _PlatformDown:
                down.set()
                return False

    results = await asyncio.gather(*(finish(pending) for pending in due))
    return sum(results)


async def keep_finishing_pending_joins(
    bot: Bot,
    dispatcher: Dispatcher,
    every: float = RETRY_EVERY,
    first_retry: float = FIRST_RETRY,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Until cancelled or ``stop`` is set (then it ends after the batch under way)."""
    stop = stop or asyncio.Event()
    enrollment: Enrollment = dispatcher["enrollment"]
    wait = first_retry
    while not stop.is_set():
        try:
            completed = await finish_pending_joins(bot, dispatcher, stop=stop)
        except Exception:
            log.exception("Finishing pending joins failed; trying again later")
            completed = 0
        if completed:
            wait = first_retry
            continue
        try:
            more_due = bool(await enrollment.due(1))
        except Exception:
            more_due = False
        if more_due:
            # Due but not finished: the platform is down (or each one failed); back off.
            pause, wait = wait, min(wait * 2, every)
        else:
            pause, wait = min(first_retry, every), first_retry
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
