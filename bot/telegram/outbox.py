"""Messages to members through the outbox: kept on disk, paced, retried, sent once per key.

``Outbox.deliver`` queues a message under an idempotency key and, when it can, sends it at
once from the caller's task (so a join's card arrives as fast as before); whatever could not
go out then (a 429, a network failure, a stop) is sent by ``OutboxSender`` in the background,
after any ``retry_after`` however long, and after a restart. Every send is paced under
Telegram's limits: about 25 messages a second overall and one a second per chat.

This is the way to send a member a message that is not the direct answer to their update:
join cards today, balance messages and broadcasts later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    ForceReply,
    FSInputFile,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.storage.cards import CardImages
from bot.storage.outbox import OutboxMessage, OutboxRepository
from bot.storage.timestamps import Clock, utc_now
from bot.telegram.card_delivery import send_card
from bot.telegram.flood import outbox_call

log = logging.getLogger(__name__)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply

MESSAGES_PER_SECOND = 25.0
"""Below Telegram's ~30 a second for one bot."""
CHAT_INTERVAL = 1.0
"""Telegram asks for at most about one message a second in one chat."""
LEASE = dt.timedelta(seconds=45)
"""How long a claimed message is someone's; longer than a send may take (``SEND_TIMEOUT``)."""
SEND_TIMEOUT = 30
MAX_FAILURES = 12
"""Failures other than flood waits after which a message is given up (about an hour)."""
SENDING_AT_ONCE = 16
IDLE_CHECK_SECONDS = 5.0
COMPACT_SECONDS = 60.0
"""How often an idle sender empties the sent journal of ids no longer needed."""
"""How often an idle sender looks for work queued by another process."""


class SendPace:
    """Spaces sends: one every ``chat_interval`` in a chat, then one every ``1 / per_second``
    overall, each slot reserved at the moment it is taken, so the overall rate holds
    whatever the chats' own waits. One chat's messages are sent one after the other (the
    outbox claims them in order), so a chat's next turn counts from its last send."""

    def __init__(
        self,
        per_second: float = MESSAGES_PER_SECOND,
        chat_interval: float = CHAT_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._gap = 1.0 / per_second
        self._chat_interval = chat_interval
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._chat_next: dict[int, float] = {}

    async def wait_turn(self, chat_id: int) -> None:
        now = self._clock()
        chat_at = self._chat_next.get(chat_id, 0.0)
        if chat_at > now:
            await self._sleep(chat_at - now)
            now = self._clock()
        at = max(now, self._next)
        self._next = at + self._gap
        self._chat_next[chat_id] = at + self._chat_interval
        if len(self._chat_next) > 10_000:
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        if at > now:
            await self._sleep(at - now)


def _markup_json(markup: Markup | None) -> dict[str, Any] | None:
    if markup is None:
        return None
    kind = type(markup).__name__
    return {"type": kind, "value": markup.model_dump(mode="json", exclude_none=True)}


def _markup(payload: dict[str, Any] | None) -> Markup | None:
    if payload is None:
        return None
    kinds: dict[str, type[Markup]] = {
        kind.__name__: kind
        for kind in (InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, ForceReply)
    }
    return kinds[payload["type"]].model_validate(payload["value"])


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Outbox:
    """Queues member messages and sends them (at once when it can)."""

    def __init__(
        self,
        repository: OutboxRepository,
        card_images: CardImages,
        *,
        clock: Clock = utc_now,
        pace: SendPace | None = None,
        lease: dt.timedelta = LEASE,
    ) -> None:
        """``lease``: how long a claimed message is its sender's (then, if not marked sent,
        another process sends it, flagged in doubt); a send gives up after two thirds of it
        (``SEND_TIMEOUT`` at most)."""
        self.repository = repository
        self.lease = lease
        self.send_timeout = max(1, min(SEND_TIMEOUT, int(lease.total_seconds() * 2 / 3)))
        self._card_images = card_images
        self._clock = clock
        self._pace = pace or SendPace()
        self.wake = asyncio.Event()
        """Set when there may be work for the background sender."""
        self._turns: dict[int, _Turn] = {}

    async def send_text(
        self,
        bot: Bot,
        key: str,
        chat_id: int,
        text: str,
        *,
        reply_markup: Markup | None = None,
        now: bool = True,
    ) -> OutboxMessage:
        payload = {"text": text, "reply_markup": _markup_json(reply_markup)}
        return await self.deliver(bot, key, chat_id, "text", payload, now=now)

    async def send_card(
        self,
        bot: Bot,
        key: str,
        chat_id: int,
        *,
        program_name: str,
        card_number: str,
        first_name: str,
        caption: str,
        reply_markup: Markup | None = None,
        now: bool = True,
    ) -> OutboxMessage:
        payload = {
            "program_name": program_name,
            "card_number": card_number,
            "first_name": first_name,
            "caption": caption,
            "reply_markup": _markup_json(reply_markup),
        }
        return await self.deliver(bot, key, chat_id, "card", payload, now=now)

    async def deliver(
        self,
        bot: Bot,
        key: str,
        chat_id: int,
        kind: str,
        payload: dict[str, Any],
        *,
        now: bool = True,
    ) -> OutboxMessage:
        """Queue under ``key`` (nothing changes if the key was queued before) and, with
        ``now``, try to send it from this task; else it goes with the background sender."""
        message, new = await self.repository.put(key, chat_id, kind, payload)
        if not new:
            log.info("Outbox message %s was queued before; not queued again", key)
            return message
        if now:
            # One chat's messages from this process go one after the other, in queue order.
            async with self._chat_turn(chat_id):
                claimed = await self.repository.claim(message.id, self.lease)
                if claimed is not None:
                    await self.send(bot, claimed)
                    return claimed
        self.wake.set()
        return message

    @asynccontextmanager
    async def _chat_turn(self, chat_id: int) -> AsyncIterator[None]:
        turn = self._turns.get(chat_id)
        if turn is None:
            turn = self._turns[chat_id] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[chat_id]

    async def send(self, bot: Bot, message: OutboxMessage) -> bool:
        """Send a claimed message; record the outcome. True if Telegram took it."""
        await self._pace.wait_turn(message.chat_id)
        token = outbox_call.set(lambda: self.repository.journal.record(message.id))
        try:
            sent = await self._call(bot, message)
        except TelegramRetryAfter as exc:
            log.info(
                "Telegram flood limit: outbox message %s waits %ss", message.key, exc.retry_after
            )
            at = self._clock() + dt.timedelta(seconds=exc.retry_after)
            await self.repository.retry_at(
                message.id, at, f"flood wait {exc.retry_after}s", counted=False
            )
            self.wake.set()
            return False
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
            await self._failed(message, exc, in_doubt=not isinstance(exc, TelegramServerError))
            return False
        except TelegramAPIError as exc:
            log.warning("Telegram refused outbox message %s: %s", message.key, exc.message)
            await self.repository.mark_failed(message.id, exc.message)
            return False
        except Exception as exc:
            log.exception("Outbox message %s could not be sent", message.key)
            await self._failed(message, exc, in_doubt=True)
            return False
        finally:
            outbox_call.reset(token)
        await self.repository.mark_sent(message.id, sent.message_id)
        return True

    async def _failed(self, message: OutboxMessage, exc: BaseException, *, in_doubt: bool) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if message.attempts >= MAX_FAILURES:
            log.error(
                "Giving up outbox message %s after %d tries: %s",
                message.key,
                message.attempts,
                reason,
            )
            await self.repository.mark_failed(message.id, reason)
            return
        delay = min(2.0**message.attempts, 600.0)
        log.warning("Outbox message %s not sent (%s); again in %gs", message.key, reason, delay)
        at = self._clock() + dt.timedelta(seconds=delay)
        await self.repository.retry_at(message.id, at, reason, in_doubt=in_doubt)
        self.wake.set()

    async def _call(self, bot: Bot, message: OutboxMessage) -> Message:
        payload = message.payload
        markup = _markup(payload.get("reply_markup"))
        if message.kind == "text":
            return await bot.send_message(
                message.chat_id,
                payload["text"],
                reply_markup=markup,
                request_timeout=self.send_timeout,
            )
        if message.kind == "card":
            return await send_card(
                bot,
                message.chat_id,
                self._card_images,
                program_name=payload["program_name"],
                card_number=payload["card_number"],
                first_name=payload["first_name"],
                caption=payload["caption"],
                reply_markup=markup,
                request_timeout=self.send_timeout,
            )
        if message.kind == "photo":
            # A picture file (a broadcast's): uploaded once per process, then its file_id.
            uploaded = (bot.id, payload["path"])
            photo = _PHOTO_IDS.get(uploaded) or FSInputFile(payload["path"])
            sent = await bot.send_photo(
                message.chat_id,
                photo,
                caption=payload["caption"],
                reply_markup=markup,
                request_timeout=self.send_timeout,
            )
            if sent.photo:
                _PHOTO_IDS[uploaded] = sent.photo[-1].file_id
            return sent
        raise ValueError(f"unknown outbox message kind {message.kind!r}")


_PHOTO_IDS: dict[tuple[int, str], str] = {}
"""Telegram's file_id of each picture file this process uploaded, by bot."""


class OutboxSender:
    """Sends what is due in the outbox until stopped: flood waits, failed sends, messages
    left by a stop or a crash (those in doubt included), and other processes' leftovers."""

    def __init__(
        self, outbox: Outbox, bot: Bot, *, at_once: int = SENDING_AT_ONCE, alone: bool = False
    ) -> None:
        """``alone``: no other process sends from this database (one polling process, which
        holds the file): sends a crash left unfinished are taken up at once, not after
        their lease."""
        self._outbox = outbox
        self._bot = bot
        self._at_once = at_once
        self._abandoned = alone
        self._sending: set[asyncio.Task[bool]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def send_due(self) -> int:
        """One pass: send what is due now (at most ``at_once``), waiting for the sends;
        returns how many Telegram took."""
        claimed = await self._outbox.repository.claim_due(self._at_once, self._outbox.lease)
        results = await asyncio.gather(*(self._outbox.send(self._bot, m) for m in claimed))
        return sum(results)

    async def _run(self) -> None:
        repository = self._outbox.repository
        with suppress(Exception):
            await repository.forget_old()
        compacted_at = 0.0
        while not self._stopping:
            self._outbox.wake.clear()
            claimed: list[OutboxMessage] = []
            free = self._at_once - len(self._sending)
            try:
                if free > 0:
                    claimed = await repository.claim_due(
                        free, self._outbox.lease, abandoned=self._abandoned
                    )
                    self._abandoned = False
                for message in claimed:
                    task = asyncio.create_task(self._outbox.send(self._bot, message))
                    self._sending.add(task)
                    task.add_done_callback(self._sent)
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)
                    continue
                if not self._sending and time.monotonic() - compacted_at > COMPACT_SECONDS:
                    compacted_at = time.monotonic()
                    await repository.compact_journal()
                wait = IDLE_CHECK_SECONDS
                due = await repository.next_due()
                if due is not None:
                    wait = min(max((due - utc_now()).total_seconds(), 0.2), IDLE_CHECK_SECONDS)
            except Exception:
                log.exception("The outbox sender failed; trying again")
                wait = IDLE_CHECK_SECONDS
            with suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.wake.wait(), wait)

    def _sent(self, task: asyncio.Task[bool]) -> None:
        self._sending.discard(task)
        self._outbox.wake.set()

    async def stop(self, drain_seconds: float) -> None:
        """Claim nothing more; let the sends under way end (within ``drain_seconds``)."""
        self._stopping = True
        self._outbox.wake.set()
        if self._task is not None:
            # Not cancelled: in the middle of a claim it could leave a transaction open.
            await self._task
        if self._sending:
            _, late = await asyncio.wait(set(self._sending), timeout=drain_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
