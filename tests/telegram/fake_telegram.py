"""An in-process Bot API: a session that answers every method sensibly and records it.

``make_request`` returns proper result objects (a ``Message`` for every send/edit, ``True``
for the rest), gives each uploaded photo a fresh ``file_id``, and can be told to refuse given
``file_id`` values the way Telegram refuses stale ones.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    Chat,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    PhotoSize,
    ReplyKeyboardMarkup,
    User,
)

BOT_USER = User(id=42, is_bot=True, first_name="Rewards", username="rewards_bot")
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def visible_length(html_text: str) -> int:
    """Length as Telegram counts it: after HTML parsing, in UTF-16 code units."""
    visible = html.unescape(re.sub(r"<[^>]*>", "", html_text))
    return len(visible.encode("utf-16-le")) // 2


def _refuse_too_long(method: TelegramMethod[Any], text: str | None, limit: int) -> None:
    if text is not None and visible_length(text) > limit:
        what = "message caption" if limit == CAPTION_LIMIT else "message"
        raise TelegramBadRequest(method=method, message=f"Bad Request: {what} is too long")


@dataclass
class Sent:
    """One message the bot sent (or edited), as the user would see it."""

    method: str
    chat_id: int
    message_id: int
    text: str
    reply_markup: Any = None
    photo: bytes | None = None
    """The uploaded PNG, when the photo was uploaded rather than re-sent by ``file_id``."""
    file_id: str | None = None

    @property
    def buttons(self) -> list[str]:
        """Inline button texts."""
        if isinstance(self.reply_markup, InlineKeyboardMarkup):
            return [b.text for row in self.reply_markup.inline_keyboard for b in row]
        return []

    @property
    def keyboard(self) -> list[str]:
        """Reply keyboard button texts."""
        if isinstance(self.reply_markup, ReplyKeyboardMarkup):
            return [b.text for row in self.reply_markup.keyboard for b in row]
        return []

    def callback_data(self, button_text: str) -> str:
        assert isinstance(self.reply_markup, InlineKeyboardMarkup), self
        for row in self.reply_markup.inline_keyboard:
            for button in row:
                if button.text == button_text and button.callback_data:
                    return button.callback_data
        raise AssertionError(f"no button {button_text!r} in {self.buttons}")


class FakeTelegram(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.sent: list[Sent] = []
        self.uploads: dict[str, bytes] = {}
        """Uploaded photos by the ``file_id`` given to them."""
        self.rejected_file_ids: set[str] = set()
        self.flood_errors = 0
        """Answer this many next requests with 429 ``retry_after`` before answering normally."""
        self.retry_after = 1
        self.answered_queries: set[str] = set()
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - the BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:  # pragma: no cover - the bot downloads nothing
        raise AssertionError("the bot is not expected to download files")
        yield b""

    def methods(self, name: str) -> list[TelegramMethod[Any]]:
        return [request for request in self.requests if type(request).__name__ == name]

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - the BaseSession signature
    ) -> TelegramType:
        self.requests.append(method)
        if self.flood_errors:
            self.flood_errors -= 1
            raise TelegramRetryAfter(
                method=method, message="Too Many Requests", retry_after=self.retry_after
            )
        result = await self._answer(bot, method)
        return result  # type: ignore[no-any-return]

    def _message(self, chat_id: int, **fields: Any) -> Message:
        return Message(
            message_id=next(self._message_ids),
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            **fields,
        )

    async def _answer(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        match method:
            case GetMe():
                return BOT_USER
            case SendMessage():
                _refuse_too_long(method, method.text, MESSAGE_LIMIT)
                chat_id = int(method.chat_id)
                inline = (
                    method.reply_markup
                    if isinstance(method.reply_markup, InlineKeyboardMarkup)
                    else None
                )
                message = self._message(chat_id, text=method.text, reply_markup=inline)
                self.sent.append(
                    Sent(
                        "sendMessage",
                        chat_id,
                        message.message_id,
                        method.text,
                        method.reply_markup,
                    )
                )
                return message.as_(bot)
            case SendPhoto():
                return await self._send_photo(bot, method)
            case EditMessageText():
                _refuse_too_long(method, method.text, MESSAGE_LIMIT)
                chat_id = int(method.chat_id or 0)
                inline = method.reply_markup
                self.sent.append(
                    Sent("editMessageText", chat_id, method.message_id or 0, method.text, inline)
                )
                return self._message(chat_id, text=method.text, reply_markup=inline).as_(bot)
            case EditMessageReplyMarkup():
                return True
            case AnswerCallbackQuery():
                if method.callback_query_id in self.answered_queries:
                    raise TelegramBadRequest(
                        method=method,
                        message="Bad Request: query is too old and response timeout expired "
                        "or query ID is invalid",
                    )
                self.answered_queries.add(method.callback_query_id)
                return True
        if method.__returning__ is bool:
            return True
        raise AssertionError(f"the fake Bot API does not know {type(method).__name__}")

    async def _send_photo(self, bot: Bot, method: SendPhoto) -> Message:
        _refuse_too_long(method, method.caption, CAPTION_LIMIT)
        chat_id = int(method.chat_id)
        upload: bytes | None = None
        if isinstance(method.photo, InputFile):
            upload = b"".join([chunk async for chunk in method.photo.read(bot)])
            file_id = f"photo-{next(self._file_ids)}"
            self.uploads[file_id] = upload
        else:
            file_id = str(method.photo)
            if file_id in self.rejected_file_ids or file_id not in self.uploads:
                raise TelegramBadRequest(
                    method=method, message="Bad Request: wrong file identifier/HTTP URL specified"
                )
        photo = [
            PhotoSize(file_id=f"{file_id}", file_unique_id=f"u-{file_id}", width=720, height=860)
        ]
        caption = method.caption or ""
        inline = (
            method.reply_markup if isinstance(method.reply_markup, InlineKeyboardMarkup) else None
        )
        message = self._message(chat_id, photo=photo, caption=caption, reply_markup=inline)
        self.sent.append(
            Sent(
                "sendPhoto",
                chat_id,
                message.message_id,
                caption,
                method.reply_markup,
                photo=upload,
                file_id=file_id,
            )
        )
        return message.as_(bot)
