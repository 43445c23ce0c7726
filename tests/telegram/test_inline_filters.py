"""Plain filters are checked on the event loop, not handed to a thread per update."""

from __future__ import annotations

import datetime as dt
import threading

from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.types import Chat, Message, Update, User

from bot.telegram.inline_filters import run_filters_inline
from tests.telegram.conftest import BotUnderTest

JANE = User(id=7, is_bot=False, first_name="Jane")


def text_update(text: str) -> Update:
    message = Message(
        message_id=1,
        date=dt.datetime.now(dt.UTC),
        chat=Chat(id=7, type="private"),
        from_user=JANE,
        text=text,
    )
    return Update(update_id=1, message=message)


def dispatcher_with_plain_filters(seen: dict[str, int]) -> Dispatcher:
    def plain_filter(message: Message) -> bool:
        seen["filter thread"] = threading.get_ident()
        return message.text == "⭐ Balance"

    router = Router()
    router.message.filter(F.chat.type == "private")

    @router.message(plain_filter, F.text)
    async def balance(message: Message) -> None:
        seen["handled"] = seen.get("handled", 0) + 1

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def feed(dispatcher: Dispatcher, text: str) -> None:
    bot = Bot("42:inline-filters")
    try:
        await dispatcher.feed_update(bot, text_update(text))
    finally:
        await bot.session.close()


async def test_aiogram_alone_checks_plain_filters_in_a_thread() -> None:
    seen: dict[str, int] = {}
    await feed(dispatcher_with_plain_filters(seen), "⭐ Balance")
    assert seen["handled"] == 1
    assert seen["filter thread"] != threading.get_ident()


async def test_inline_filters_run_on_the_loop_and_still_decide() -> None:
    seen: dict[str, int] = {}
    dispatcher = dispatcher_with_plain_filters(seen)
    assert run_filters_inline(dispatcher) == 3  # the router's own filter and both handler ones
    await feed(dispatcher, "⭐ Balance")
    await feed(dispatcher, "something else")
    assert seen["handled"] == 1
    assert seen["filter thread"] == threading.get_ident()


def test_every_filter_of_the_bot_is_inline(app: BotUnderTest) -> None:
    filters: list[FilterObject] = [
        filter_object
        for router in app.dispatcher.chain_tail
        for observer in router.observers.values()
        for handler in [*observer.handlers, observer._handler]
        for filter_object in handler.filters or ()
    ]
    assert len(filters) > 20
    assert all(filter_object.awaitable for filter_object in filters)
