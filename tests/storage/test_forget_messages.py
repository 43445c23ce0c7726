"""Forget me also erases the messages queued or sent to the member's private chat."""

from __future__ import annotations

from bot.storage import Database
from bot.storage.inbox import Inbox
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


async def test_forget_erases_the_updates_of_the_user_that_were_set_aside(
    database: Database,
) -> None:
    inbox = Inbox(database)
    anna = {"message": {"date": "bad", "from": {"id": 11}, "contact": {"phone_number": "1"}}}
    boris = {"callback_query": {"from": {"id": 12}, "data": 5}}
    garbage = {"message": "not an object"}
    for update_id, content in ((1, anna), (2, boris), (3, garbage)):
        await inbox.store([{"update_id": update_id, **content}], "run")
        await inbox.set_aside(
            update_id, {"update_id": update_id, **content}, "cannot be parsed", 0
        )
    await MemberLinks(database).forget(11)
    assert [dead.update_id for dead in await inbox.dead()] == [2, 3]
