"""The inbox on a dispatcher of its own: an update whose handling keeps failing, or that was
interrupted by crash after crash, is set aside with the reason while the others are served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot.storage.database import Database, open_database
from bot.storage.inbox import Inbox
from bot.telegram.inbox import UpdateInbox

TOKEN = "4242424242:inbox"


def update(update_id: int, text: str, user_id: int = 7) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Jane"},
            "text": text,
        },
    }


class Handled:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.tries: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def on_message(self, message: Message) -> None:
        text = message.text or ""
        self.tries[text] = self.tries.get(text, 0) + 1
        self.changed.set()
        if text == "boom":
            raise RuntimeError("the handler breaks on this one")
        self.texts.append(text)

    async def wait_for(self, *texts: str) -> None:
        async with asyncio.timeout(10):
            while not set(texts) <= set(self.texts):
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "bot.db")
    yield database
    await database.close()


def inbox_on(db: Database, handled: Handled) -> tuple[UpdateInbox, Bot]:
    dispatcher = Dispatcher()
    dispatcher.message.register(handled.on_message)
    bot = Bot(TOKEN)
    return UpdateInbox(Inbox(db), bot, dispatcher, retry_seconds=(0.01,)), bot


async def test_an_update_that_keeps_failing_is_set_aside_and_blocks_no_one(
    db: Database,
) -> None:
    handled = Handled()
    updates, bot = inbox_on(db, handled)
    await updates.start()
    await updates.receive([update(1, "boom"), update(2, "fine", user_id=8)])
    await updates.receive([update(3, "also fine", user_id=9)])
    await handled.wait_for("fine", "also fine")
    await asyncio.wait_for(updates.wait_until(lambda: not updates.waiting), 10)
    await updates.stop(5)
    await bot.session.close()

    assert handled.tries["boom"] == 5
    [dead] = await Inbox(db).dead()
    assert (dead.update_id, dead.attempts) == (1, 5)
    assert dead.reason.startswith("failed 5 times: RuntimeError('the handler breaks")
    assert await Inbox(db).unhandled_count() == 0


async def test_an_update_interrupted_by_five_crashes_is_set_aside_at_the_next_start(
    db: Database,
) -> None:
    inbox = Inbox(db)
    await inbox.store([update(1, "kills the process"), update(2, "survivor")], "crashed")
    await db.execute("UPDATE inbox_updates SET attempts = 5 WHERE update_id = 1")
    handled = Handled()
    updates, bot = inbox_on(db, handled)
    assert await updates.start() == 2
    await handled.wait_for("survivor")
    await updates.stop(5)
    await bot.session.close()

    assert "kills the process" not in handled.tries
    [dead] = await inbox.dead()
    assert (dead.update_id, dead.reason) == (1, "handling was interrupted 5 times")


async def test_an_update_that_cannot_be_parsed_is_set_aside_at_once(db: Database) -> None:
    handled = Handled()
    updates, bot = inbox_on(db, handled)
    await updates.start()
    poison = {"update_id": 1, "message": {"message_id": 1, "date": "someday", "chat": {}}}
    await updates.receive([poison, update(2, "fine")])
    await handled.wait_for("fine")
    await asyncio.wait_for(updates.wait_until(lambda: not updates.waiting), 10)
    await updates.stop(5)
    await bot.session.close()

    [dead] = await Inbox(db).dead()
    assert dead.update_id == 1 and dead.reason.startswith("cannot be parsed:")
    assert dead.attempts == 0
