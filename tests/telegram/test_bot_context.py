"""aiogram objects read with ``speed_up_bot_context`` on carry their ``Bot`` as before."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import Message, Update
from pydantic import PrivateAttr

from bot.telegram.bot_context import speed_up_bot_context

RAW = {
    "update_id": 1,
    "message": {
        "message_id": 5,
        "date": 1700000000,
        "chat": {"id": 7, "type": "private", "first_name": "Ann"},
        "from": {"id": 7, "is_bot": False, "first_name": "Ann"},
        "text": "hello",
    },
}


class Remembering(Message):
    """Its own private state and its own ``model_post_init``: left to pydantic."""

    _seen: list[str] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._seen.append("post-init")


def test_every_nested_object_knows_the_bot_and_only_the_bot() -> None:
    bot = Bot("42:context")
    speed_up_bot_context()
    assert Message.__dict__["model_post_init"].__module__ == "bot.telegram.bot_context"
    update = Update.model_validate(RAW, context={"bot": bot})
    message = update.message
    assert message is not None and message.from_user is not None
    for item in (update, message, message.chat, message.from_user):
        assert item.bot is bot
        assert item.__pydantic_private__ == {"_bot": bot}
    assert Update.model_validate(RAW).message.bot is None  # type: ignore[union-attr]
    assert SendMessage(chat_id=1, text="x").bot is None
    other = Bot("43:other")
    assert message.as_(other).bot is other and message.chat.bot is bot
    assert message.model_copy().bot is other


def test_classes_with_their_own_post_init_or_private_state_keep_pydantics() -> None:
    bot = Bot("42:context")
    speed_up_bot_context()
    assert "bot.telegram" not in Remembering.model_post_init.__module__
    own = Remembering.model_validate(RAW["message"], context={"bot": bot})
    assert own.bot is bot and own._seen == ["post-init"]

    class Later(Message):
        """Made after the speed-up: pydantic wraps the one-step version, which still works."""

    later = Later.model_validate(RAW["message"], context={"bot": bot})
    assert later.bot is bot and later.chat.bot is bot
    speed_up_bot_context()
    assert Later.__dict__["model_post_init"].__module__ == "bot.telegram.bot_context"
    assert Later.model_validate(RAW["message"], context={"bot": bot}).bot is bot
    assert speed_up_bot_context() == 0
