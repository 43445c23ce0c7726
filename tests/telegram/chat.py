"""A Telegram user talking to the bot: real ``Update`` objects through ``feed_update``."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    Message,
    MessageOriginUser,
    Sticker,
    Update,
    User,
)

from tests.telegram.fake_telegram import BOT_USER, FakeTelegram, Sent

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


class TelegramUser:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        telegram: FakeTelegram,
        *,
        user_id: int,
        first_name: str = "Jane",
        last_name: str = "Doe",
        language_code: str | None = "en",
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.telegram = telegram
        self.user = User(
            id=user_id,
            is_bot=False,
            first_name=first_name,
            last_name=last_name,
            language_code=language_code,
        )
        self.chat = Chat(id=user_id, type="private", first_name=first_name)

    def rewire(self, dispatcher: Dispatcher, bot: Bot, telegram: FakeTelegram) -> None:
        """Talk to a rebuilt bot (after a restart)."""
        self.dispatcher = dispatcher
        self.bot = bot
        self.telegram = telegram

    async def _feed(self, **update: Any) -> list[Sent]:
        before = len(self.telegram.sent)
        await self.dispatcher.feed_update(self.bot, Update(update_id=next(_update_ids), **update))
        return [sent for sent in self.telegram.sent[before:] if sent.chat_id == self.user.id]

    async def _press(self, query: CallbackQuery) -> list[Sent]:
        sent = await self._feed(callback_query=query)
        # Telegram shows a spinner until the press is answered (and refuses a second answer).
        assert query.id in self.telegram.answered_queries, "the button press was not answered"
        return sent

    def _message(self, **fields: Any) -> Message:
        return Message(
            message_id=next(_message_ids),
            date=dt.datetime.now(dt.UTC),
            chat=self.chat,
            from_user=self.user,
            **fields,
        )

    async def send(self, text: str) -> list[Sent]:
        return await self._feed(message=self._message(text=text))

    async def share_contact(
        self,
        phone: str,
        *,
        owner_id: int | None = None,
        first_name: str | None = None,
        forwarded: bool = False,
    ) -> list[Sent]:
        """Share a contact card: by default the user's own, as the contact button sends it."""
        contact = Contact(
            phone_number=phone,
            first_name=first_name or self.user.first_name,
            last_name=self.user.last_name,
            user_id=self.user.id if owner_id is None else owner_id,
        )
        fields: dict[str, Any] = {"contact": contact}
        if forwarded:
            fields["forward_origin"] = MessageOriginUser(
                date=dt.datetime.now(dt.UTC), sender_user=self.user
            )
        return await self._feed(message=self._message(**fields))

    async def send_sticker(self) -> list[Sent]:
        sticker = Sticker(
            file_id="sticker-1",
            file_unique_id="sticker-u1",
            type="regular",
            width=512,
            height=512,
            is_animated=False,
            is_video=False,
        )
        return await self._feed(message=self._message(sticker=sticker))

    async def press_data(self, data: str, message_id: int = 1) -> list[Sent]:
        """Send a button press with ``data`` (a button of an old message, or a forged one)."""
        message = Message(
            message_id=message_id, date=dt.datetime.now(dt.UTC), chat=self.chat, from_user=BOT_USER
        )
        query = CallbackQuery(
            id=str(next(_update_ids)),
            from_user=self.user,
            chat_instance=f"ci-{self.user.id}",
            data=data,
            message=message,
        )
        return await self._press(query)

    async def press(self, button_text: str, on: Sent | None = None) -> list[Sent]:
        """Press an inline button on ``on``, or on the latest message that has it."""
        if on is None:
            candidates = [
                sent
                for sent in self.telegram.sent
                if sent.chat_id == self.user.id and button_text in sent.buttons
            ]
            assert candidates, f"no message to {self.user.id} has a {button_text!r} button"
            on = candidates[-1]
        message = Message(
            message_id=on.message_id,
            date=dt.datetime.now(dt.UTC),
            chat=self.chat,
            from_user=BOT_USER,
            text=on.text,
        )
        query = CallbackQuery(
            id=str(next(_update_ids)),
            from_user=self.user,
            chat_instance=f"ci-{self.user.id}",
            data=on.callback_data(button_text),
            message=message,
        )
        return await self._press(query)
