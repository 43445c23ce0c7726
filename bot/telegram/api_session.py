"""The Bot API session: aiogram's aiohttp session, with its answer types kept alive.

aiogram reads every answer with ``Response[method.__returning__]``. pydantic keeps such
parametrised classes in a ``WeakValueDictionary``, and a generic class sits in reference
cycles, so only the cyclic garbage collector frees it; a process that allocates a lot (this
one: platform calls, card images, SQLite rows) runs that collector often, and then the next
``sendMessage`` builds ``Response[Message]`` again, about 9 ms of CPU each time. Holding one
strong reference per answer type makes every later lookup a cache hit.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

_answer_types: dict[Any, type[Response[Any]]] = {}


def keep_answer_type(returning: Any) -> None:
    """Build ``Response[returning]`` once and keep it for the life of the process."""
    if returning not in _answer_types:
        _answer_types[returning] = Response[returning]


class BotApiSession(AiohttpSession):
    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        keep_answer_type(method.__returning__)
        return super().check_response(bot, method, status_code, content)
