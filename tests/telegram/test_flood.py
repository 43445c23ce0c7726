"""The session middleware waits out Telegram's 429 ``retry_after``, at most three times."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from bot.telegram.flood import FloodControl
from tests.telegram.fake_telegram import FakeTelegram


def bot_with_flood_control(waits: list[float]) -> tuple[Bot, FakeTelegram]:
    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    session = FakeTelegram()
    session.retry_after = 7
    session.middleware(FloodControl(sleep=record_wait))
    return Bot("123456:TEST", session=session), session


async def test_two_429_answers_are_waited_out_and_the_message_goes_out() -> None:
    waits: list[float] = []
    bot, session = bot_with_flood_control(waits)
    session.flood_errors = 2
    message = await bot.send_message(1, "hello")
    assert message.text == "hello"
    assert waits == [7, 7]
    assert [sent.text for sent in session.sent] == ["hello"]


async def test_four_429_answers_give_up_after_three_retries() -> None:
    waits: list[float] = []
    bot, session = bot_with_flood_control(waits)
    session.flood_errors = 4
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(1, "hello")
    assert waits == [7, 7, 7]
    assert len(session.methods("SendMessage")) == 4
    assert session.sent == []


async def test_each_call_has_its_own_retries() -> None:
    waits: list[float] = []
    bot, session = bot_with_flood_control(waits)
    session.flood_errors = 3
    await bot.send_message(1, "first")
    session.flood_errors = 3
    await bot.send_message(1, "second")
    assert [sent.text for sent in session.sent] == ["first", "second"]
    assert len(waits) == 6


async def test_a_wait_longer_than_a_minute_fails_at_once() -> None:
    waits: list[float] = []
    bot, session = bot_with_flood_control(waits)
    session.retry_after = 3600
    session.flood_errors = 1
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(1, "hello")
    assert waits == []
