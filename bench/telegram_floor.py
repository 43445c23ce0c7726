"""The floor of ``bench/chat_load.py``: a bare aiogram bot that echoes every text message.

Run by the benchmark as its own process, polling the benchmark's Bot API stand-in:
``python bench/telegram_floor.py TOKEN API_URL``. It does what any aiogram bot does for an
update (long polling, parsing, routing, one ``sendMessage``) and nothing else, so its figures
are what aiogram itself costs on this machine.
"""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def main(token: str, api_url: str) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    bot = Bot(token, session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
