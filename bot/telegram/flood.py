"""Waiting out Telegram's flood limits: a 429 answer says how long to wait before retrying."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

MAX_RETRIES = 3
MAX_WAIT = 60.0
"""A longer ``retry_after`` fails at once: holding a member's chat that long helps nobody."""

outbox_call: ContextVar[Callable[[], object] | None] = ContextVar("outbox_call", default=None)
"""Set by the outbox around a send: the 429 comes back at once (the outbox schedules the retry
itself, however long), and the callback runs the moment Telegram has taken the message."""


class FloodControl(BaseRequestMiddleware):
    """Session middleware: on ``TelegramRetryAfter`` wait ``retry_after`` seconds and send the
    same call again, at most ``max_retries`` times per call and never for more than
    ``max_wait`` seconds at a time; then the error goes up."""

    def __init__(
        self,
        max_retries: int = MAX_RETRIES,
        *,
        max_wait: float = MAX_WAIT,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        taken = outbox_call.get()
        if taken is not None:
            response = await make_request(bot, method)
            taken()
            return response
        retries = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if retries >= self.max_retries or exc.retry_after > self.max_wait:
                    log.warning(
                        "Telegram flood limit: giving up %s after %d retries",
                        type(method).__name__,
                        retries,
                    )
                    raise
                retries += 1
                log.info(
                    "Telegram flood limit: waiting %ss before retry %d of %s",
                    exc.retry_after,
                    retries,
                    type(method).__name__,
                )
                await self._sleep(exc.retry_after)
