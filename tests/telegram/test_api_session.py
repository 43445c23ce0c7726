"""The Bot API session keeps each answer class alive, so aiogram never builds it twice.

pydantic holds parametrised generics weakly; a collection pass frees an unused ``Response[T]``
and the next answer of that type pays for building the class again (about 9 ms of CPU).
"""

from __future__ import annotations

import gc
import json
import weakref
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import (
    EditMessageLiveLocation,
    GetUserChatBoosts,
    Response,
    SendMessage,
    SendPhoto,
)
from aiogram.types import (
    BufferedInputFile,
    BusinessConnection,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    ReplyParameters,
    UserChatBoosts,
)
from aiohttp import web

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


async def test_the_json_body_matches_aiograms_form_for_nested_lists_dates_and_extras() -> None:
    session = BotApiSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        method = SendMessage(
            chat_id=7,
            text="5 points",
            entities=[MessageEntity(type="bold", offset=0, length=1)],
            reply_parameters=ReplyParameters(message_id=3),
            not_a_bot_api_field="kept as aiogram keeps it",
        )
        edit = EditMessageLiveLocation(
            chat_id=7, message_id=3, latitude=1.5, longitude=2.5, live_period=60
        )
        for call in (method, edit):
            body = session.build_json(bot, call)
            assert body is not None
            form = {
                key: prepared
                for key, value in call.model_dump(warnings=False).items()
                if (prepared := session.prepare_value(value, bot=bot, files={}))
            }
            # The form has nested values as JSON text and everything else as it is.
            decoded = {
                key: json.loads(value) if value[:1] in "[{" else value
                for key, value in form.items()
            }
            fields = json.loads(body)
            assert set(fields) == set(decoded)
            for key, value in fields.items():
                assert value == decoded[key] or str(value) == decoded[key], key
        assert json.loads(session.build_json(bot, method) or b"")["not_a_bot_api_field"]
    finally:
        await session.close()


async def test_what_orjson_refuses_is_encoded_by_the_standard_library() -> None:
    session = BotApiSession()
    bot = Bot(TOKEN, session=session)
    try:
        huge = 2**70
        body = session.build_json(bot, SendMessage(chat_id=huge, text="x"))
        assert body is not None and json.loads(body)["chat_id"] == huge
        assert json.loads(session.json_dumps({"id": huge})) == {"id": huge}
        # Answers are read by orjson: Telegram's ids have at most 52 significant bits, and
        # those come back exact (orjson reads integers beyond 64 bits as floats).
        widest = -(2**52) - 1
        message = {"message_id": 1, "date": 0, "chat": {"id": widest, "type": "private"}}
        answer = session.check_response(
            bot,
            SendMessage(chat_id=widest, text="x"),
            200,
            json.dumps({"ok": True, "result": message}),
        )
        assert answer.result is not None and answer.result.chat.id == widest
    finally:
        await session.close()


async def test_json_calls_over_the_keep_alive_pool_and_their_failures() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def bot_api(request: web.Request) -> web.Response:
        fields = await request.json()
        seen.append((request.match_info["method"], request.content_type, fields))
        if fields.get("text") == "flood":
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests",
                    "parameters": {"retry_after": 3},
                },
                status=429,
            )
        if fields.get("text") == "drop":
            assert request.transport is not None
            request.transport.close()
        message = {
            "message_id": 9,
            "date": 0,
            "chat": {"id": fields["chat_id"], "type": "private"},
            "text": fields["text"],
        }
        return web.json_response({"ok": True, "result": message})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", bot_api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    session = BotApiSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        for n in range(3):
            sent = await bot.send_message(7, f"hello {n}")
            assert sent.message_id == 9 and sent.text == f"hello {n}"
        assert [call[:2] for call in seen] == [("sendMessage", "application/json")] * 3
        assert seen[0][2] == {"chat_id": 7, "text": "hello 0", "parse_mode": "HTML"}
        with pytest.raises(TelegramRetryAfter) as flood:
            await bot.send_message(7, "flood")
        assert flood.value.retry_after == 3
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(7, "drop")
        assert (await bot.send_message(7, "after")).text == "after"
    finally:
        await session.close()
        await runner.cleanup()
