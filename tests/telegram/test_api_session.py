"""The Bot API session keeps each answer class alive, so aiogram never builds it twice.

pydantic holds parametrised generics weakly; a collection pass frees an unused ``Response[T]``
and the next answer of that type pays for building the class again (about 9 ms of CPU).
"""

from __future__ import annotations

import gc
import json
import weakref

from aiogram import Bot
from aiogram.methods import GetUserChatBoosts, Response
from aiogram.types import BusinessConnection, UserChatBoosts

from bot.telegram.api_session import BotApiSession

TOKEN = "42:answer-types"


def test_a_collected_answer_class_is_built_again_without_the_session() -> None:
    # The control: the process this test runs in frees an answer class nobody holds.
    answer_class = weakref.ref(Response[BusinessConnection])
    gc.collect()
    assert answer_class() is None


async def test_answer_classes_survive_garbage_collection() -> None:
    session = BotApiSession()
    bot = Bot(TOKEN, session=session)
    try:
        method = GetUserChatBoosts(chat_id=1, user_id=2)
        answer = session.check_response(
            bot, method, 200, json.dumps({"ok": True, "result": {"boosts": []}})
        )
        assert isinstance(answer.result, UserChatBoosts) and answer.result.boosts == []
        answer_class = weakref.ref(Response[UserChatBoosts])
        del answer
        gc.collect()
        assert answer_class() is not None
        assert Response[UserChatBoosts] is answer_class()
    finally:
        await session.close()
