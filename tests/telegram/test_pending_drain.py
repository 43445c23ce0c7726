"""A backlog of joins taken while the platform was down drains as fast as the platform
answers once it is back: batch after batch, several at once, with no pause between batches
(before, 100 a minute)."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.storage.joins import PendingJoins
from bot.telegram.pending_joins import keep_finishing_pending_joins
from tests.telegram.conftest import BotUnderTest, MovableClock
from tests.telegram.test_resilience import set_fault

BACKLOG = 150
HOUR = 3600.0


async def test_a_backlog_drains_without_pausing_between_batches(
    app: BotUnderTest, ct_sandbox_url: str, clock: MovableClock
) -> None:
    await set_fault(ct_sandbox_url, error_status=503)
    for n in range(BACKLOG):
        user = app.user(40_000 + n, first_name=f"Member{n}")
        await user.share_contact(f"1312555{n:04d}")
    pending = PendingJoins(app.db)
    assert len(await pending.list_due(clock() + dt_minutes(2), limit=1000)) == BACKLOG

    await set_fault(ct_sandbox_url)
    clock.advance(minutes=2)
    stop = asyncio.Event()
    # Any pause would last an hour: the backlog drains only if none is taken between batches.
    finisher = asyncio.create_task(
        keep_finishing_pending_joins(app.bot, app.dispatcher, HOUR, HOUR, stop=stop)
    )

    def cards() -> list[int]:
        return sorted(sent.chat_id for sent in app.telegram.sent if sent.method == "sendPhoto")

    try:
        async with asyncio.timeout(120):
            # The fake Bot API has no event to wait on: look until every card went out.
            while len(cards()) < BACKLOG:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        finisher.cancel()
    assert cards() == [40_000 + n for n in range(BACKLOG)]
    assert await pending.list_due(clock() + dt_minutes(10), limit=1) == []


def dt_minutes(minutes: float) -> dt.timedelta:
    return dt.timedelta(minutes=minutes)
