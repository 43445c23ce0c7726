"""The outbox on the real dispatcher: a join card Telegram holds back for an hour is sent after
the hour (not dropped), after a restart too, and never twice."""

from __future__ import annotations

from bot.loyalty.base import LoyaltyBackend
from bot.telegram.outbox import LEASE, Outbox, OutboxSender
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot
from tests.telegram.fake_telegram import Sent


def photos(sent: list[Sent]) -> list[Sent]:
    return [message for message in sent if message.method == "sendPhoto"]


async def test_a_card_held_back_for_an_hour_is_sent_after_the_hour_once(
    app: BotUnderTest, clock: MovableClock
) -> None:
    jane = app.user(1001, first_name="Jane", last_name="Doe")
    app.telegram.retry_after = 3600
    app.telegram.flood_errors = 1
    await jane.share_contact("+12025550199")
    assert photos(app.telegram.sent) == []  # held back, not dropped
    outbox: Outbox = app.dispatcher["outbox"]
    [queued] = await outbox.repository.all()
    assert queued.state == "queued" and queued.error == "flood wait 3600s"
    assert await outbox.repository.claim_due(10, LEASE) == []  # not before the hour is up

    clock.advance(seconds=3601)
    [due] = await outbox.repository.claim_due(10, LEASE)
    assert await outbox.send(app.bot, due)
    [card] = photos(app.telegram.sent)
    assert card.chat_id == 1001 and "You're in, Jane" in card.text
    assert (await outbox.repository.all())[0].state == "sent"
    assert await outbox.repository.claim_due(10, LEASE) == []


async def test_a_card_queued_before_a_restart_is_sent_by_the_next_run(
    app: BotUnderTest, clock: MovableClock, ct_backend: LoyaltyBackend
) -> None:
    jane = app.user(1001, first_name="Jane", last_name="Doe")
    app.telegram.retry_after = 90
    app.telegram.flood_errors = 1
    await jane.share_contact("+12025550199")
    db_path = app.db.path
    await stop_bot(app)

    clock.advance(seconds=91)
    restarted = await start_bot(app.dispatcher["settings"], ct_backend, db_path, clock)
    try:
        sender = OutboxSender(restarted.dispatcher["outbox"], restarted.bot)
        assert await sender.send_due() == 1
        assert await sender.send_due() == 0
        [card] = photos(restarted.telegram.sent)
        assert card.chat_id == 1001 and "You're in, Jane" in card.text
    finally:
        await stop_bot(restarted)
