"""A real aiogram bot, long polling the Telegram stand-in over loopback."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import aiohttp
import pytest
from aiogram import Dispatcher
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeChat, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.devtools.telegram_standin import DEMO_USERS, SOMEONE_ELSE
from bot.sandbox.runner import serve
from tests.devtools.conftest import PollingBot, StandInServer, make_bot
from tests.devtools.standin_bot import HELP_BUTTON, JOIN_BUTTON, build_router, card_png

JANE, IVAN, LUCIA = DEMO_USERS


class FlyToTheMoon(TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "flyToTheMoon"

    destination: ClassVar[str] = "moon"


async def test_get_me_names_the_bot(polling_bot: PollingBot) -> None:
    me = await polling_bot.bot.get_me()

    assert me.is_bot
    assert me.username == "great_widgets_bot"
    assert me.id == 4242424242


async def test_text_round_trip_escapes_and_formats(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    sent = await standin.send_text(JANE.id, "hi <script> & 👋 you")

    reply = await standin.wait_for_message(JANE.id, after=sent.message_id)

    assert reply.text == "You said: hi <script> & 👋 you"
    bold = reply.entities[0]
    assert bold["type"] == "bold"
    # UTF-16 offsets: the emoji counts twice, as Telegram counts it.
    assert (bold["offset"], bold["length"]) == (10, len("hi <script> & 👋 you") + 1)
    assert [m.text for m in standin.transcript(JANE.id)] == [sent.text, reply.text]


async def test_start_command_shows_a_contact_keyboard(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    sent = await standin.send_command(IVAN.id, "start")

    reply = await standin.wait_for_message(IVAN.id, after=sent.message_id)

    assert sent.entities == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert reply.text == "👋 Welcome, Иван!"
    assert reply.reply_buttons[0] == {"text": JOIN_BUTTON, "request_contact": True}
    assert standin.reply_keyboard(IVAN.id) == reply.reply_keyboard
    assert reply.inline_keyboard is None


async def test_contact_button_shares_the_users_own_phone(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    await standin.send_command(JANE.id, "start")
    await standin.wait_for_message(JANE.id)

    shared = await standin.press_reply_button(JANE.id, JOIN_BUTTON)
    reply = await standin.wait_for_message(JANE.id, after=shared.message_id)

    assert shared.contact is not None and shared.contact["user_id"] == JANE.id
    assert reply.text == "✅ You're in, Jane! Phone: 12025550155"


async def test_someone_elses_contact_is_not_the_senders(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    shared = await standin.share_contact(LUCIA.id, own=False)

    reply = await standin.wait_for_message(LUCIA.id, after=shared.message_id)

    assert shared.contact is not None and shared.contact["user_id"] == SOMEONE_ELSE.id
    assert reply.text is not None and reply.text.startswith("That contact isn't yours.")


async def test_plain_reply_button_sends_its_text(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    await standin.send_command(JANE.id, "start")
    await standin.wait_for_message(JANE.id)

    pressed = await standin.press_reply_button(JANE.id, HELP_BUTTON)
    reply = await standin.wait_for_message(JANE.id, after=pressed.message_id)

    assert pressed.text == HELP_BUTTON
    assert reply.text == "Here's what I can do: /menu /card"
    with pytest.raises(ValueError, match="no reply keyboard button"):
        await standin.press_reply_button(JANE.id, "Not a button")


async def test_inline_button_answers_and_edits_the_message(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    sent = await standin.send_command(JANE.id, "menu")
    menu = await standin.wait_for_message(JANE.id, after=sent.message_id)
    assert [b["text"] for b in menu.inline_buttons] == ["⭐ Balance", "🌐 Website"]

    query_id = await standin.press_inline_button(JANE.id, menu.message_id, "balance")
    answer = await standin.wait_for_callback_answer(query_id)
    edited = await standin.wait_for_message(
        JANE.id, lambda m: m.edit_date is not None and m.message_id == menu.message_id
    )

    assert answer.text == "Balance updated"
    assert edited.text == "⭐ Your balance: 450 points"
    assert edited.entities == [{"type": "bold", "offset": 16, "length": 3}]
    # Telegram drops the inline keyboard when an edit does not repeat it.
    assert edited.inline_keyboard is None
    assert len(standin.messages(JANE.id)) == 1
    with pytest.raises(ValueError, match="no button"):
        await standin.press_inline_button(JANE.id, menu.message_id, "balance")


async def test_photo_is_uploaded_once_then_resent_by_file_id(polling_bot: PollingBot) -> None:
    standin = polling_bot.standin
    first = await standin.send_command(JANE.id, "card")
    card = await standin.wait_for_message(JANE.id, after=first.message_id)
    again = await standin.send_command(JANE.id, "card")
    card_again = await standin.wait_for_message(JANE.id, after=again.message_id)

    upload, reuse = standin.method_calls("sendPhoto")
    assert upload.params["photo"].startswith("attach://")
    assert upload.files[upload.params["photo"].removeprefix("attach://")] == card_png()
    assert reuse.params["photo"] == card.photo_file_id
    assert not reuse.files
    assert card.photo_bytes == card_again.photo_bytes == card_png()
    assert card_again.photo_file_id == card.photo_file_id
    assert card.caption == "Show this at the till."
    assert card.photo[-1]["width"] == card.photo[-1]["height"] > 90


async def test_unknown_file_id_is_refused(polling_bot: PollingBot) -> None:
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await polling_bot.bot.send_photo(JANE.id, "AgACAgIAAxkDAAInvented")


async def test_commands_per_language(polling_bot: PollingBot) -> None:
    bot, standin = polling_bot.bot, polling_bot.standin
    english = [BotCommand(command="card", description="Show my card")]
    russian = [BotCommand(command="card", description="Моя карта")]
    personal = [BotCommand(command="menu", description="Jane's menu")]

    assert await bot.set_my_commands(english)
    assert await bot.set_my_commands(russian, language_code="ru")
    assert await bot.set_my_commands(personal, scope=BotCommandScopeChat(chat_id=JANE.id))

    def listed(commands: list[BotCommand]) -> list[tuple[str, str]]:
        return [(c.command, c.description) for c in commands]

    assert listed(await bot.get_my_commands()) == listed(english)
    assert listed(await bot.get_my_commands(language_code="ru")) == listed(russian)
    assert await bot.get_my_commands(language_code="es") == []
    assert standin.commands_for(IVAN.id) == [{"command": "card", "description": "Моя карта"}]
    assert standin.commands_for(LUCIA.id) == [{"command": "card", "description": "Show my card"}]
    assert standin.commands_for(JANE.id) == [{"command": "menu", "description": "Jane's menu"}]

    assert await bot.delete_my_commands(language_code="ru")
    assert standin.commands_for(IVAN.id) == standin.commands_for(LUCIA.id)
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="My Card", description="x")])


async def test_edit_and_delete_are_reflected_in_the_transcript(polling_bot: PollingBot) -> None:
    bot, standin = polling_bot.bot, polling_bot.standin
    sent = await bot.send_message(LUCIA.id, "Hola <i>Lucía</i>")
    edited = await bot.edit_message_text("Adiós", chat_id=LUCIA.id, message_id=sent.message_id)

    assert isinstance(edited, type(sent)) and edited.edit_date is not None
    [message] = standin.messages(LUCIA.id)
    assert (message.text, message.entities) == ("Adiós", [])
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Adiós", chat_id=LUCIA.id, message_id=sent.message_id)

    assert await bot.delete_message(LUCIA.id, sent.message_id)
    assert standin.messages(LUCIA.id) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(LUCIA.id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=LUCIA.id, message_id=sent.message_id)


async def test_bad_requests_fail_like_telegram(polling_bot: PollingBot) -> None:
    bot = polling_bot.bot
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(1234, "hi")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(JANE.id, "")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "jane"'):
        await bot.send_message(JANE.id, "Hello <Jane>")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            JANE.id,
            "x",
            reply_markup={"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]},
        )
    assert polling_bot.standin.messages(JANE.id) == []


async def test_unknown_method_makes_aiogram_raise(polling_bot: PollingBot) -> None:
    with pytest.raises(TelegramNotFound, match="method not found"):
        await polling_bot.bot(FlyToTheMoon())
    assert polling_bot.standin.method_calls("flyToTheMoon")[0].status == 404


async def test_flood_control_raises_retry_after(polling_bot: PollingBot) -> None:
    bot, standin = polling_bot.bot, polling_bot.standin
    standin.fail_next("sendMessage", times=1, retry_after=7)

    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(JANE.id, "hi")

    assert raised.value.retry_after == 7
    assert standin.messages(JANE.id) == []
    await bot.send_message(JANE.id, "hi")
    assert [m.text for m in standin.messages(JANE.id)] == ["hi"]


async def test_wrong_token_is_unauthorized(standin_server: StandInServer) -> None:
    async with make_bot(standin_server.url, token="1:wrong") as bot:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()


async def test_long_poll_wakes_on_a_new_update(standin_server: StandInServer) -> None:
    standin, url = standin_server.standin, standin_server.url
    async with aiohttp.ClientSession() as http:
        poll = asyncio.create_task(
            http.post(f"{url}/bot{standin.token}/getUpdates", data={"timeout": "30"})
        )
        await standin.wait_for_call("getUpdates")
        await standin.send_text(JANE.id, "wake up")
        response = await asyncio.wait_for(poll, 5)
        body = await response.json()

        [update] = body["result"]
        assert update["message"]["text"] == "wake up"
        assert update["message"]["from"]["id"] == JANE.id

        confirm = await http.post(
            f"{url}/bot{standin.token}/getUpdates",
            json={"offset": update["update_id"] + 1, "timeout": 0},
        )
        assert (await confirm.json()) == {"ok": True, "result": []}
        assert standin.pending_update_count == 0


async def test_webhook_delivery_and_polling_conflict(standin_server: StandInServer) -> None:
    standin = standin_server.standin
    bot = make_bot(standin_server.url)
    dispatcher = Dispatcher()
    dispatcher.include_router(build_router())
    webhook_app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="s3cret").register(webhook_app, "/hook")

    async with serve(webhook_app) as webhook_url, bot:
        assert await bot.set_webhook(f"{webhook_url}/hook", secret_token="s3cret")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        sent = await standin.send_text(IVAN.id, "по вебхуку")
        reply = await standin.wait_for_message(IVAN.id, after=sent.message_id)

        assert reply.text == "You said: по вебхуку"
        info = await bot.get_webhook_info()
        assert info.url == f"{webhook_url}/hook" and info.pending_update_count == 0
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""


async def test_raw_http_answers_match_the_bot_api(standin_server: StandInServer) -> None:
    url, token = standin_server.url, standin_server.standin.token
    async with aiohttp.ClientSession() as http:
        me = await http.get(f"{url}/bot{token}/getMe")
        unknown = await http.post(f"{url}/bot{token}/sendDice", data={"chat_id": "1"})
        wrong = await http.post(f"{url}/bot1:nope/getMe")
        missing = await http.post(f"{url}/bot{token}/sendMessage", json={"text": "hi"})
        upload = aiohttp.FormData()
        upload.add_field("chat_id", str(JANE.id))
        upload.add_field("photo", card_png(), filename="card.png", content_type="image/png")
        direct = await http.post(f"{url}/bot{token}/sendPhoto", data=upload)
        not_an_image = aiohttp.FormData()
        not_an_image.add_field("chat_id", str(JANE.id))
        not_an_image.add_field("photo", b"%PDF-1.4", filename="card.pdf")
        refused = await http.post(f"{url}/bot{token}/sendPhoto", data=not_an_image)

        assert (await me.json())["result"]["username"] == "great_widgets_bot"
        assert unknown.status == 404
        assert await unknown.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
        assert wrong.status == 401
        assert (await wrong.json())["description"] == "Unauthorized"
        assert (await missing.json())["description"] == "Bad Request: chat_id is empty"
        photo = (await direct.json())["result"]["photo"]
        assert standin_server.standin.messages(JANE.id)[0].photo_file_id == photo[-1]["file_id"]
        assert (await refused.json())["description"] == "Bad Request: IMAGE_PROCESS_FAILED"


async def test_webhook_reply_runs_the_returned_method(standin_server: StandInServer) -> None:
    standin = standin_server.standin
    bot = make_bot(standin_server.url)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def reply_in_webhook_answer(message: Message) -> SendMessage:
        return message.answer(f"Got <b>{message.text}</b> in the webhook answer")

    webhook_app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False).register(webhook_app, "/")

    async with serve(webhook_app) as webhook_url, bot:
        await bot.set_webhook(webhook_url + "/")
        sent = await standin.send_text(JANE.id, "hi")
        reply = await standin.wait_for_message(JANE.id, after=sent.message_id)

    assert reply.text == "Got hi in the webhook answer"
    [call] = standin.method_calls("sendMessage")
    assert call.params["chat_id"] == str(JANE.id)
