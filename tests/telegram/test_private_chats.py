"""Member data stays in the private chat: in a group, supergroup or channel the bot shows
nothing of the member and points to the private chat instead."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from aiogram.types import CallbackQuery, Chat, Contact, InlineKeyboardMarkup, Message, Update

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.storage.members import MemberLinks
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest
from tests.telegram.fake_telegram import BOT_USER

PHONE = "+12025550143"
_ids = itertools.count(900_000)

MEMBER_COMMANDS = (
    "/profile",
    "/card",
    "/balance",
    "/history",
    "/invite",
    "/email",
    "/language",
    "/start",
    "/forget",
    "/help",
)
MEMBER_BUTTON_PRESSES = (
    "bal",
    "hist:0",
    "hist:1",
    "hist_open",
    "retry:card",
    "retry:balance",
    "retry:history",
    "retry:profile",
    "prof:email",
    "forget_ask",
    "forget:1",
    "retry:invite",
    "lang:ru",
    "code",
)


def _group(kind: str) -> Chat:
    return Chat(id=-1_001_234_567_890, type=kind, title="Widget fans")


async def _feed(app: BotUnderTest, **update: object) -> None:
    await app.dispatcher.feed_update(app.bot, Update(update_id=next(_ids), **update))  # type: ignore[arg-type]


def _message(jane: TelegramUser, chat: Chat, **fields: object) -> Message:
    return Message(
        message_id=next(_ids),
        date=dt.datetime.now(dt.UTC),
        chat=chat,
        from_user=jane.user,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", ["group", "supergroup", "channel"])
async def test_member_commands_and_buttons_in_a_group_reveal_nothing(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient, kind: str
) -> None:
    await jane.share_contact(PHONE)
    member = await ct_backend.find_member_by_phone(PHONE)
    assert member is not None and member.card_number
    group = _group(kind)
    before = len(app.telegram.sent)
    requests_before = len(app.telegram.requests)

    for command in MEMBER_COMMANDS:
        await _feed(app, message=_message(jane, group, text=f"{command}@{BOT_USER.username}"))
    await _feed(app, message=_message(jane, group, text="/card"))
    await _feed(app, message=_message(jane, group, text="💳 My card"))
    await _feed(
        app,
        message=_message(
            jane, group, contact=Contact(phone_number=PHONE, first_name="Jane", user_id=1001)
        ),
    )
    # Addressed to another bot: not ours to answer.
    await _feed(app, message=_message(jane, group, text="/card@some_other_bot"))
    bot_message = Message(
        message_id=next(_ids), date=dt.datetime.now(dt.UTC), chat=group, from_user=BOT_USER
    )
    for data in MEMBER_BUTTON_PRESSES:
        query = CallbackQuery(
            id=str(next(_ids)),
            from_user=jane.user,
            chat_instance="group-instance",
            data=data,
            message=bot_message,
        )
        await _feed(app, callback_query=query)
        assert query.id in app.telegram.answered_queries, f"{data}: the press was not answered"

    sent = app.telegram.sent[before:]
    requests = app.telegram.requests[requests_before:]
    assert not [r for r in requests if type(r).__name__ == "SendPhoto"], "a card was sent"
    # Only the group got anything, and only the pointer to the private chat: one per command
    # addressed to this bot.
    assert {message.chat_id for message in sent} == {group.id}
    assert len(sent) == len(MEMBER_COMMANDS) + 1
    for message in sent:
        for secret in (member.card_number, PHONE, PHONE[1:], member.code, "Jane", "Doe"):
            assert secret not in message.text
        assert isinstance(message.reply_markup, InlineKeyboardMarkup)
        [[button]] = message.reply_markup.inline_keyboard
        assert button.url == f"https://t.me/{BOT_USER.username}?start=private"
        assert button.callback_data is None
    answers = [r for r in requests if type(r).__name__ == "AnswerCallbackQuery"]
    assert len(answers) == len(MEMBER_BUTTON_PRESSES)
    assert all(
        answer.url == f"https://t.me/{BOT_USER.username}?start=private"  # type: ignore[attr-defined]
        for answer in answers
    )
    # "Forget me" pressed in the group did not forget the member.
    assert await MemberLinks(app.db).get(jane.user.id) is not None


async def test_the_private_chat_button_opens_the_usual_welcome(
    app: BotUnderTest, jane: TelegramUser
) -> None:
    await jane.share_contact(PHONE)
    [welcome] = await jane.send("/start private")
    assert welcome.text == "👋 Welcome back, Jane!"
    # Not taken for a forged signup link.
    row = await app.db.fetch_one("SELECT count(*) FROM link_attempts")
    assert row is not None and row[0] == 0
