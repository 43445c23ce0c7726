"""Sending the member's card: rendered once, uploaded once, then re-sent by ``file_id``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, Message

from bot.services.cards import render_card
from bot.storage.cards import CardImages
from bot.telegram.texts import CAPTION_LIMIT, NAME_LIMIT, fit, shortened

log = logging.getLogger(__name__)


async def card_png(
    card_images: CardImages, bot_id: int, program_name: str, card_number: str, first_name: str
) -> bytes:
    png = await card_images.get_png(bot_id, card_number)
    if png is None:
        png = await asyncio.to_thread(
            render_card, program_name, card_number, shortened(first_name, NAME_LIMIT)
        )
        await card_images.put_png(bot_id, card_number, png)
    return png


async def send_card(
    bot: Bot,
    chat_id: int,
    card_images: CardImages,
    *,
    program_name: str,
    card_number: str,
    first_name: str,
    caption: str,
    **kwargs: Any,
) -> Message:
    """Send the card picture; a ``file_id`` Telegram refuses is dropped and the PNG re-uploaded."""
    caption = fit(caption, CAPTION_LIMIT)
    file_id = await card_images.get_file_id(bot.id, card_number)
    if file_id is not None:
        try:
            return await bot.send_photo(chat_id, file_id, caption=caption, **kwargs)
        except TelegramBadRequest as exc:
            log.info("Cached card file_id refused (%s); uploading the card again", exc.message)
            await card_images.forget_file_id(bot.id, card_number)
    png = await card_png(card_images, bot.id, program_name, card_number, first_name)
    message = await bot.send_photo(
        chat_id,
        BufferedInputFile(png, filename="card.png"),
        caption=caption,
        **kwargs,
    )
    if message.photo:
        await card_images.remember_file_id(bot.id, card_number, message.photo[-1].file_id)
    return message
