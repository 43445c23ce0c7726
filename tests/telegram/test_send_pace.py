"""The outbox's pace on a virtual clock: never more than the overall rate in any second,
never two messages to one chat within the chat interval, whatever the mix of chats."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import defaultdict
from collections.abc import Awaitable

from bot.telegram.outbox import SendPace


class VirtualTime:
    """A clock that jumps to the next wake-up once every task is waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def run(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        while not task.done():
            for _ in range(5):  # everything runnable runs to its next sleep
                await asyncio.sleep(0)
            if self._sleepers and not task.done():
                at, _, wake = heapq.heappop(self._sleepers)
                self.now = max(self.now, at)
                wake.set_result(None)
        task.result()


async def test_no_second_has_more_than_the_rate_and_no_chat_two_within_its_interval() -> None:
    time = VirtualTime()
    pace = SendPace(per_second=25, chat_interval=1.0, clock=time, sleep=time.sleep)
    sent: list[tuple[float, int]] = []

    async def chat(chat_id: int, messages: int) -> None:
        for _ in range(messages):
            await pace.wait_turn(chat_id)
            sent.append((time.now, chat_id))

    # A few busy chats among many with one message each.
    await time.run(asyncio.gather(*(chat(n, 5 if n < 10 else 1) for n in range(200))))

    assert len(sent) == 10 * 5 + 190
    moments = sorted(at for at, _ in sent)
    # (less a hair for the sums of 0.04 that land a float's width short of a whole second)
    busiest = max(sum(1 for at in moments if start <= at < start + 0.999) for start in moments)
    assert busiest <= 25
    by_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat_id in sent:
        by_chat[chat_id].append(at)
    for times in by_chat.values():
        assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))
    # And no slot is held for nothing: 240 messages at 25 a second take under twice 9.6 s.
    assert moments[-1] < 2 * 240 / 25
