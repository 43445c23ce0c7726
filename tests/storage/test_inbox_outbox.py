"""The inbox and outbox tables: each update id kept once, poison set aside, each message key
sent once, one chat's messages in order, a crashed send flagged in doubt."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from bot.storage import Database
from bot.storage.inbox import Inbox
from bot.storage.outbox import OutboxRepository
from tests.storage.conftest import FakeClock

LEASE = dt.timedelta(seconds=45)


def update(update_id: int, text: str = "hi") -> dict[str, Any]:
    return {"update_id": update_id, "message": {"text": text}}


async def test_a_batch_is_stored_once_and_a_redelivery_is_recognised(
    database: Database, clock: FakeClock
) -> None:
    inbox = Inbox(database, clock=clock)
    assert await inbox.store([update(1), update(2), update(3)], "run-a") == [1, 2, 3]
    await inbox.mark_handled([1, 2])
    # Telegram sends 2 and 3 again (the offset was never confirmed), and a new one.
    assert await inbox.store([update(2), update(3), update(4)], "run-a") == [4]
    assert await inbox.unhandled_count() == 2
    # A handled id is remembered for longer than Telegram redelivers, then forgotten.
    clock.advance(days=3)
    assert await inbox.forget_old() == 2
    assert await inbox.unhandled_count() == 2


async def test_a_large_batch_goes_in_one_transaction(database: Database) -> None:
    inbox = Inbox(database)
    assert len(await inbox.store([update(n) for n in range(1, 451)], "run-a")) == 450
    assert await inbox.unhandled_count() == 450


async def test_a_new_run_takes_over_what_the_last_one_left_with_the_handlings_started(
    database: Database, clock: FakeClock
) -> None:
    inbox = Inbox(database, clock=clock)
    await inbox.store([update(1), update(2), update(3), update(4)], "crashed")
    # 1 and 2 were being handled, 2 finished; 3 and 4 were waiting their turn.
    await inbox.record(started=[1, 2], handled=[2])
    taken = await inbox.take_over(
        "next", stale_owners_only=False, stale_after=dt.timedelta(seconds=60)
    )
    assert [(u.update_id, u.attempts) for u in taken] == [(1, 1), (3, 0), (4, 0)]
    assert taken[0].payload == update(1)
    # Taken already: nothing left for a third run while "next" is alive.
    await inbox.heartbeat("next")
    assert (
        await inbox.take_over(
            "third", stale_owners_only=True, stale_after=dt.timedelta(seconds=60)
        )
        == []
    )


async def test_a_replica_takes_over_only_from_a_replica_that_stopped_beating(
    database: Database, clock: FakeClock
) -> None:
    inbox = Inbox(database, clock=clock)
    await inbox.heartbeat("alive")
    await inbox.heartbeat("dead")
    await inbox.store([update(1)], "alive")
    await inbox.store([update(2)], "dead")
    clock.advance(seconds=90)
    await inbox.heartbeat("alive")
    taken = await inbox.take_over(
        "me", stale_owners_only=True, stale_after=dt.timedelta(seconds=60)
    )
    assert [u.update_id for u in taken] == [2]


async def test_a_stopped_run_releases_what_it_did_not_finish(database: Database) -> None:
    inbox = Inbox(database)
    await inbox.heartbeat("stopping")
    await inbox.store([update(1), update(2)], "stopping")
    await inbox.record(started=[1], handled=[])
    await inbox.release("stopping")
    taken = await inbox.take_over(
        "other", stale_owners_only=True, stale_after=dt.timedelta(seconds=60)
    )
    assert [(u.update_id, u.attempts) for u in taken] == [(1, 1), (2, 0)]


async def test_an_update_set_aside_keeps_its_reason_and_is_not_taken_again(
    database: Database,
) -> None:
    inbox = Inbox(database)
    await inbox.store([update(7, "poison")], "run-a")
    await inbox.set_aside(7, update(7, "poison"), "cannot be parsed: date", 0)
    [dead] = await inbox.dead()
    assert dead.update_id == 7 and dead.reason == "cannot be parsed: date"
    assert '"poison"' in dead.payload_json
    assert await inbox.take_over("b", stale_owners_only=False, stale_after=LEASE) == []
    assert await inbox.store([update(7, "poison")], "b") == []


async def test_a_key_is_queued_once(database: Database) -> None:
    outbox = OutboxRepository(database)
    first, new = await outbox.put("join-card:1", 10, "text", {"text": "a"})
    again, new_again = await outbox.put("join-card:1", 10, "text", {"text": "b"})
    assert new and not new_again
    assert again.id == first.id and again.payload == {"text": "a"}


async def test_one_chats_messages_go_in_order_and_one_at_a_time(
    database: Database, clock: FakeClock
) -> None:
    outbox = OutboxRepository(database, clock=clock)
    a1, _ = await outbox.put("a1", 1, "text", {})
    a2, _ = await outbox.put("a2", 1, "text", {})
    b1, _ = await outbox.put("b1", 2, "text", {})
    assert await outbox.claim(a2.id, LEASE) is None  # a1 first
    claimed = await outbox.claim_due(10, LEASE)
    assert [m.key for m in claimed] == ["a1", "b1"]
    assert await outbox.claim_due(10, LEASE) == []  # a2 waits for a1
    await outbox.mark_sent(a1.id, 55)
    await outbox.retry_at(
        b1.id, clock() + dt.timedelta(seconds=120), "flood wait 120s", counted=False
    )
    [next_one] = await outbox.claim_due(10, LEASE)
    assert next_one.key == "a2" and next_one.attempts == 1
    clock.advance(seconds=121)
    await outbox.mark_sent(a2.id, 56)
    [later] = await outbox.claim_due(10, LEASE)
    # A flood wait is not a failure: it does not count towards giving up.
    assert later.key == "b1" and later.attempts == 1 and not later.in_doubt


async def test_a_send_cut_off_by_a_crash_comes_back_in_doubt(
    database: Database, clock: FakeClock
) -> None:
    outbox = OutboxRepository(database, clock=clock)
    await outbox.put("card", 1, "text", {})
    [claimed] = await outbox.claim_due(10, LEASE)
    assert await outbox.claim_due(10, LEASE) == []  # leased to the sender that died
    clock.advance(seconds=46)
    [again] = await outbox.claim_due(10, LEASE)
    assert again.id == claimed.id and again.in_doubt and again.attempts == 2


async def test_a_send_telegram_took_before_the_crash_is_not_sent_again(
    database: Database, clock: FakeClock
) -> None:
    outbox = OutboxRepository(database, clock=clock)
    await outbox.put("took", 1, "text", {})
    await outbox.put("lost", 2, "text", {})
    took, lost = await outbox.claim_due(10, LEASE)
    # Telegram answered for the first; the process died before the database recorded it.
    outbox.journal.record(took.id)
    clock.advance(seconds=46)
    restarted = OutboxRepository(database, clock=clock)
    [again] = await restarted.claim_due(10, LEASE)
    assert again.id == lost.id and again.in_doubt
    assert (await restarted.get("took")).state == "sent"  # type: ignore[union-attr]
    # Once nothing it names is still being sent, the journal is emptied.
    restarted.journal.record(again.id)  # taken by Telegram, not yet recorded
    assert not await restarted.compact_journal()
    await restarted.mark_sent(again.id, 9)
    assert await restarted.compact_journal()
    assert restarted.journal.read() == set()


async def test_a_process_alone_with_the_file_takes_up_a_crashed_send_at_once(
    database: Database, clock: FakeClock
) -> None:
    outbox = OutboxRepository(database, clock=clock)
    await outbox.put("card", 1, "text", {})
    [claimed] = await outbox.claim_due(10, LEASE)
    restarted = OutboxRepository(database, clock=clock)
    assert await restarted.claim_due(10, LEASE) == []  # another process may still be on it
    [again] = await restarted.claim_due(10, LEASE, abandoned=True)
    assert again.id == claimed.id and again.in_doubt


async def test_a_write_cancelled_while_its_transaction_begins_leaves_none_open(
    database: Database,
) -> None:
    # A stop cancels what outlives its drain; the next run's writes must still commit.
    await database.execute("CREATE TABLE marks (x INTEGER)")

    async def write() -> None:
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO marks VALUES (1)")

    task = asyncio.create_task(write())
    await asyncio.sleep(0)  # it now waits for BEGIN IMMEDIATE in the driver's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with database.transaction() as tx:
        await tx.execute("INSERT INTO marks VALUES (2)")
    assert [tuple(row) for row in await database.fetch_all("SELECT x FROM marks")] == [(2,)]


async def test_a_restarted_replica_takes_up_its_own_leftovers_at_once(
    database: Database, clock: FakeClock
) -> None:
    inbox = Inbox(database, clock=clock)
    await inbox.heartbeat("host-a:8080")
    await inbox.heartbeat("host-b:8080")
    await inbox.store([update(1)], "host-a:8080")
    await inbox.store([update(2)], "host-b:8080")
    # host-a crashed and starts again at once: its own row, not the live host-b's.
    await inbox.heartbeat("host-a:8080")
    taken = await inbox.take_over(
        "host-a:8080",
        stale_owners_only=True,
        stale_after=dt.timedelta(seconds=60),
        own_leftovers=True,
    )
    assert [u.update_id for u in taken] == [1]
    # Once running, its own rows in hand are never taken again.
    again = await inbox.take_over(
        "host-a:8080", stale_owners_only=True, stale_after=dt.timedelta(seconds=60)
    )
    assert again == []


async def test_updates_that_start_at_once_are_stored_as_started(database: Database) -> None:
    inbox = Inbox(database)
    await inbox.store([update(1), update(2), update(3)], "busy", starting=2)
    taken = await inbox.take_over("next", stale_owners_only=False, stale_after=LEASE)
    assert [(u.update_id, u.attempts) for u in taken] == [(1, 1), (2, 1), (3, 0)]
