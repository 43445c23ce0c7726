"""Taking updates in through the inbox: stored first, handled once, set aside when poisonous.

``UpdateInbox.receive`` stores a batch (one statement) and starts a task per new update;
only then does the caller confirm the batch to Telegram (the next ``getUpdates`` offset, the
webhook's 200). Each task parses its update, feeds it to the dispatcher and marks it handled;
marks are written together by one flusher, so a burst costs a few statements, not one per
update. An update that cannot be parsed, or whose handling fails or is interrupted
``MAX_ATTEMPTS`` times, goes to ``dead_updates`` with the reason and holds up no other.

``poll`` is the long-polling loop over it; ``UpdateInbox.stop`` is the first half of a
graceful stop: no new updates, the ones being handled finish (within ``drain_seconds``, then
they are cancelled), the ones not started stay stored for the next run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any, ClassVar

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from pydantic import ValidationError

from bot.storage.inbox import Inbox, InboxUpdate

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""Failures or interruptions after which an update is set aside instead of tried again."""
MAX_HANDLING = 64
"""Updates handled at once; the rest wait their turn (stored, so a stop loses none)."""
MAX_WAITING = 1000
"""Updates taken in but not finished before polling pauses (Telegram keeps the rest)."""
POLL_SECONDS = 10
HEARTBEAT_SECONDS = 10.0
STALE_OWNER_SECONDS = 60.0
"""A process not seen for this long has died; another takes over its unhandled updates."""
FORGET_EVERY_BEATS = 360
"""Handled ids past their keeping time are dropped about once an hour."""
RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0)
POLL_BACKOFF = BackoffConfig(min_delay=0.5, max_delay=10.0, factor=1.5, jitter=0.1)


class GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """``getUpdates`` answered as plain JSON: each update is parsed on its own, so one this
    version of aiogram cannot read is set aside instead of failing the whole batch."""

    __returning__: ClassVar[Any] = list[dict[str, Any]]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


def _unreadable(update: Mapping[str, Any]) -> str | None:
    """Why a raw update cannot even be stored, if it cannot."""
    update_id = update.get("update_id") if isinstance(update, Mapping) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return "no integer update_id"
    return None


class UpdateInbox:
    def __init__(
        self,
        inbox: Inbox,
        bot: Bot,
        dispatcher: Dispatcher,
        *,
        max_handling: int = MAX_HANDLING,
        max_attempts: int = MAX_ATTEMPTS,
        retry_seconds: Sequence[float] = RETRY_SECONDS,
        owner: str | None = None,
        stale_after: float = STALE_OWNER_SECONDS,
        **handler_data: Any,
    ) -> None:
        """``owner``: a name no other live process can have (a replica's host and port), so
        that its next run takes up what a crash left at once; by default a random one.
        ``stale_after``: seconds after which a silent replica's updates are taken over (it
        beats every ``HEARTBEAT_SECONDS``, or a quarter of that when shorter)."""
        self.owner = owner or secrets.token_hex(8)
        self._named = owner is not None
        self._inbox = inbox
        self._bot = bot
        self._dispatcher = dispatcher
        self._data = {"dispatcher": dispatcher, "bots": [bot], **handler_data}
        self._slots = asyncio.Semaphore(max_handling)
        self._max_handling = max_handling
        self._max_attempts = max_attempts
        self._retry_seconds = tuple(retry_seconds) or (1.0,)
        self._stale_after = dt.timedelta(seconds=stale_after)
        self._beat_seconds = min(HEARTBEAT_SECONDS, stale_after / 4)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._started: set[int] = set()
        self._handled: list[int] = []
        self._starts: list[int] = []
        self._counted: set[int] = set()
        self._flush_wanted = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self.accepting = False

    @property
    def waiting(self) -> int:
        """Updates taken in and not finished yet (being handled or waiting for a slot)."""
        return len(self._tasks)

    @property
    def handling(self) -> int:
        return len(self._started)

    async def start(self, *, stale_owners_only: bool = False) -> int:
        """Begin: take over the updates a previous run left unhandled (all of them, or with
        ``stale_owners_only`` those of replicas that stopped beating); returns how many."""
        self.accepting = True
        self._flusher = asyncio.create_task(self._flush_handled())
        await self._inbox.heartbeat(self.owner)
        await self._inbox.forget_old()
        self._heart = asyncio.create_task(self._beat(stale_owners_only))
        return await self._take_over(stale_owners_only=stale_owners_only, starting=True)

    async def _take_over(self, *, stale_owners_only: bool, starting: bool = False) -> int:
        left = await self._inbox.take_over(
            self.owner,
            stale_owners_only=stale_owners_only,
            stale_after=self._stale_after,
            own_leftovers=starting and self._named,
        )
        if left:
            log.info("Taking up %d update(s) left unhandled by an earlier run", len(left))
        for update in left:
            if update.attempts >= self._max_attempts:
                await self._set_aside(update, f"handling was interrupted {update.attempts} times")
            else:
                self._begin(update)
        return len(left)

    async def receive(self, updates: Sequence[Mapping[str, Any]]) -> list[int]:
        """Store a batch, then start handling the new ones; returns their ids. The caller
        confirms the batch to Telegram only after this returns."""
        if not self.accepting:
            raise RuntimeError("the inbox is stopping and takes no updates")
        storable = []
        for raw in updates:
            reason = _unreadable(raw)
            if reason is None:
                storable.append(raw)
            else:
                log.error("Dropping an update Telegram sent without an id: %s", reason)
        # Those that will find a free slot start at once: stored as started already.
        starting = max(0, self._max_handling - len(self._tasks))
        fresh = set(await self._inbox.store(storable, self.owner, starting=starting))
        for position, raw in enumerate(storable):
            update_id = int(raw["update_id"])
            if update_id in fresh:
                if position < starting:
                    self._counted.add(update_id)
                self._begin(InboxUpdate(update_id, dict(raw), 0))
        return sorted(fresh)

    def _begin(self, update: InboxUpdate) -> None:
        if update.update_id in self._tasks:
            return
        task = asyncio.create_task(self._handle(update), name=f"update-{update.update_id}")
        self._tasks[update.update_id] = task
        task.add_done_callback(lambda _: self._finished(update.update_id))

    def _finished(self, update_id: int) -> None:
        self._tasks.pop(update_id, None)
        self._started.discard(update_id)
        self._counted.discard(update_id)
        self._changed.set()

    async def _handle(self, item: InboxUpdate) -> None:
        async with self._slots:
            self._started.add(item.update_id)
            self._changed.set()
            # Counted with the next group of marks, not waited for: a crash during handling
            # is an attempt (the 5th sets it aside), a queued update is not.
            if item.update_id in self._counted:
                self._counted.discard(item.update_id)
            else:
                self._starts.append(item.update_id)
                self._flush_wanted.set()
            try:
                update = Update.model_validate(item.payload, context={"bot": self._bot})
            except ValidationError as exc:
                log.error("Update %s cannot be parsed; set aside: %s", item.update_id, exc)
                await self._set_aside(item, f"cannot be parsed: {exc}")
                return
            attempts = 0
            while True:
                try:
                    result = await self._dispatcher.feed_update(self._bot, update, **self._data)
                    if isinstance(result, TelegramMethod):
                        await self._dispatcher.silent_call_request(self._bot, result)
                    break
                except Exception as exc:
                    attempts += 1
                    if attempts >= self._max_attempts:
                        log.exception(
                            "Update %s failed %d times; set aside", item.update_id, attempts
                        )
                        await self._set_aside(item, f"failed {attempts} times: {exc!r}", attempts)
                        return
                    delay = self._retry_seconds[min(attempts, len(self._retry_seconds)) - 1]
                    log.warning(
                        "Update %s failed (%r); trying again in %gs", item.update_id, exc, delay
                    )
                    await asyncio.sleep(delay)
        self._handled.append(item.update_id)
        self._flush_wanted.set()

    async def _set_aside(
        self, item: InboxUpdate, reason: str, attempts: int | None = None
    ) -> None:
        count = item.attempts if attempts is None else attempts
        await self._inbox.set_aside(item.update_id, item.payload, reason, count)

    async def _flush_handled(self) -> None:
        """Write the handled marks in groups: whatever finished while the last write ran.
        Ends (never cancelled mid-write) once closing and nothing is left to write."""
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            done, self._handled = self._handled, []
            starts, self._starts = self._starts, []
            try:
                await self._inbox.record(started=starts, handled=done)
            except Exception:
                log.exception("Could not record %d handled update(s)", len(done))
                self._handled[:0] = done
                self._starts[:0] = starts
                if self._closing.is_set():
                    return
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), 1.0)
                self._flush_wanted.set()
            if self._closing.is_set() and not self._handled and not self._starts:
                return

    async def _beat(self, stale_owners_only: bool) -> None:
        beats = 0
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._beat_seconds)
            if self._closing.is_set():
                return
            beats += 1
            try:
                await self._inbox.heartbeat(self.owner)
                if stale_owners_only and self.accepting:
                    await self._take_over(stale_owners_only=True)
                if beats % FORGET_EVERY_BEATS == 0:
                    await self._inbox.forget_old()
            except Exception:
                log.exception("Inbox heartbeat failed; trying again")

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Until ``condition()`` holds; it is checked whenever an update starts or ends."""
        while True:
            self._changed.clear()
            if condition():
                return
            await self._changed.wait()

    async def wait_below(self, limit: int, stop: asyncio.Event) -> None:
        """Until fewer than ``limit`` updates are waiting, or ``stop`` is set."""
        if self.waiting < limit:
            return
        below = asyncio.create_task(self.wait_until(lambda: self.waiting < limit))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, below}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        below.cancel()

    async def stop(self, drain_seconds: float) -> None:
        """Take no more updates; let those being handled finish within ``drain_seconds``,
        then cancel the rest; record what was handled. Unfinished updates stay stored."""
        self.accepting = False
        waiting = [u for u, task in self._tasks.items() if u not in self._started]
        for update_id in waiting:
            self._tasks[update_id].cancel()
        running = [task for u, task in self._tasks.items() if u in self._started]
        if running:
            log.info("Finishing %d update(s) in progress", len(running))
            _, late = await asyncio.wait(running, timeout=drain_seconds)
            if late:
                log.warning(
                    "Stopping with %d update(s) unfinished; they are handled after a restart",
                    len(late),
                )
                for task in late:
                    task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        # The helpers end on their own: cancelled in the middle of a write, they could leave
        # the shared connection inside a transaction.
        self._closing.set()
        self._flush_wanted.set()
        for helper in (self._heart, self._flusher):
            if helper is not None:
                await helper
        try:
            # Any replica may take up what is left.
            await self._inbox.release(self.owner)
        except Exception:
            log.exception("Could not record the inbox state at stop; the next run repeats it")


async def poll(
    updates: UpdateInbox,
    bot: Bot,
    stop: asyncio.Event,
    *,
    allowed_updates: list[str] | None = None,
    poll_seconds: int = POLL_SECONDS,
    max_waiting: int = MAX_WAITING,
) -> None:
    """Long-poll into the inbox until ``stop`` is set. A batch is stored before the next
    ``getUpdates`` (whose offset confirms it) is sent; a batch in flight when ``stop`` comes
    is left unconfirmed, so Telegram delivers it again to the next run."""
    offset: int | None = None
    backoff = Backoff(config=POLL_BACKOFF)
    failed = False
    request_timeout = int((bot.session.timeout or 60) + poll_seconds)
    stopping = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            await updates.wait_below(max_waiting, stop)
            if stop.is_set():
                break
            method = GetRawUpdates(
                offset=offset, timeout=poll_seconds, allowed_updates=allowed_updates
            )
            fetch = asyncio.create_task(bot(method, request_timeout=request_timeout))
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await fetch
                break
            try:
                batch = fetch.result()
            except Exception as exc:
                failed = True
                log.error("Failed to fetch updates - %s: %s", type(exc).__name__, exc)
                log.warning("Sleep for %f seconds and try again", backoff.next_delay)
                sleeping = asyncio.create_task(backoff.asleep())
                await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
                sleeping.cancel()
                continue
            if failed:
                log.info("Connection established again")
                backoff.reset()
                failed = False
            if not batch:
                continue
            try:
                await updates.receive(batch)
            except Exception:
                # Not stored, so not confirmed: Telegram hands the batch over again.
                log.exception("Could not store %d update(s); fetching them again", len(batch))
                sleeping = asyncio.create_task(backoff.asleep())
                await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
                sleeping.cancel()
                continue
            ids = [u["update_id"] for u in batch if isinstance(u.get("update_id"), int)]
            if ids:
                offset = max(ids) + 1
    finally:
        stopping.cancel()
