"""The Bot API session keeps each answer class alive, so aiogram never builds it twice.

pydantic holds parametrised generics weakly; a collection pass frees an unused ``Response[T]``
and the next answer of that type pays for building the class again (about 9 ms of CPU).
"""

from __future__ import annotations

import gc
import json
import weakref

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.methods import GetUserChatBoosts, Response, SendMessage, SendPhoto
from aiogram.types import (
    BufferedInputFile,
    BusinessConnection,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    UserChatBoosts,
)

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


async def test_calls_go_as_one_json_body_with_aiograms_values() -> None:
    session = BotApiSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="🔄 Refresh", callback_data="r")]]
        )
        method = SendMessage(chat_id=7, text="<b>5</b> points", reply_markup=keyboard)
        body = session.build_json(bot, method)
        assert body is not None
        fields = json.loads(body)
        # The form aiogram would send, field by field: nested values as JSON text there.
        form = {
            name: value
            for name, value in (
                (key, session.prepare_value(value, bot=bot, files={}))
                for key, value in method.model_dump(warnings=False).items()
            )
            if value
        }
        assert set(fields) == set(form)
        assert fields["parse_mode"] == "HTML" and fields["chat_id"] == 7
        assert fields["reply_markup"] == json.loads(form["reply_markup"])
        assert fields["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "r"
    finally:
        await session.close()


async def test_uploads_still_go_as_a_multipart_form() -> None:
    session = BotApiSession()
    bot = Bot(TOKEN, session=session)
    try:
        upload = SendPhoto(chat_id=7, photo=BufferedInputFile(b"\x89PNG", filename="card.png"))
        assert session.build_json(bot, upload) is None
        assert session.build_json(bot, SendPhoto(chat_id=7, photo="file-id")) is not None
    finally:
        await session.close()
