"""Forget me also erases the messages queued or sent to the member's private chat."""

from __future__ import annotations

from bot.storage import Database
from bot.storage.members import MemberLinks
from bot.storage.outbox import OutboxRepository


async def test_forget_erases_the_messages_to_the_user_and_nobody_elses(
    database: Database,
) -> None:
    outbox = OutboxRepository(database)
    await outbox.put("join-card:anna", 11, "card", {"caption": "Anna, 4000 0000 0001"})
    await outbox.put("join-card:boris", 12, "card", {"caption": "Boris, 4000 0000 0002"})
    await MemberLinks(database).forget(11)
    assert [message.key for message in await outbox.all()] == ["join-card:boris"]
