"""Broadcasts: one message to many members, through the outbox, resumable, within limits.

Each member's copy is an outbox message under ``broadcast:<id>:<telegram user id>``, where
the id is made from the text, the picture and the filters: running the same broadcast again
(after a stop, a crash) sends only to those who have not had it. Sends are paced by the
outbox (``SendPace``) at ``per_second`` overall and one a second per chat. A member who
blocked the bot is marked unreachable and skipped from then on; members who turned news off
are skipped. During quiet hours (shop time) the broadcast waits; balance messages never do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import logging
import re
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from aiogram import Bot

from bot.storage.broadcasts import Recipient
from bot.storage.notifications import NotificationSettings
from bot.storage.timestamps import Clock, utc_now
from bot.telegram.outbox import CHAT_INTERVAL, Outbox, SendPace

log = logging.getLogger(__name__)

WORKERS = 8
UNREACHABLE_ERRORS = ("blocked", "deactivated", "forbidden", "chat not found")


class WindowPace(SendPace):
    """At most ``per_second`` sends starting within any one second, counted by the moments
    they really start (a stalled event loop cannot release a burst of overdue turns), and
    one a second per chat."""

    def __init__(self, per_second: float, chat_interval: float = CHAT_INTERVAL) -> None:
        super().__init__(per_second, chat_interval)
        self._limit = max(1, int(per_second))
        self._interval = chat_interval
        self._starts: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def wait_turn(self, chat_id: int) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= 1.0:
                    self._starts.popleft()
                wait = 0.0
                if len(self._starts) >= self._limit:
                    wait = 1.0 - (now - self._starts[0])
                last = self._chat_last.get(chat_id)
                if last is not None and now - last < self._interval:
                    wait = max(wait, self._interval - (now - last))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._starts.append(now)
            self._chat_last[chat_id] = now
            if len(self._chat_last) > 10_000:
                self._chat_last = {
                    c: t for c, t in self._chat_last.items() if now - t < self._interval
                }


def markdown_to_html(text: str) -> str:
    """The little Markdown a broadcast needs, as Telegram HTML: **bold**, *italic* or
    _italic_, `code` and [links](https://…); everything else is shown as written."""
    escaped = html.escape(text.strip(), quote=False)
    escaped = re.sub(
        r"\[([^\]]+)\]\((https?://[^)\s]+)\)",
        lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>',
        escaped,
    )
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)
    escaped = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", escaped)
    escaped = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"<i>\1</i>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def broadcast_id(text: str, photo: bytes | None, filters: Sequence[str | None]) -> str:
    digest = hashlib.sha256()
    for part in (text.encode(), photo or b"", *(str(f).encode() for f in filters)):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class QuietHours:
    start: int
    end: int
    zone: zoneinfo.ZoneInfo

    def until(self, now: dt.datetime) -> dt.datetime | None:
        """When the quiet hours ``now`` falls in end; ``None`` outside them."""
        if self.start == self.end:
            return None
        local = now.astimezone(self.zone)
        hour = local.hour
        quiet = (
            self.start <= hour < self.end
            if self.start < self.end
            else hour >= self.start or hour < self.end
        )
        if not quiet:
            return None
        end = local.replace(hour=self.end, minute=0, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end


@dataclass
class BroadcastReport:
    broadcast: str
    audience: int
    sent: int = 0
    already: int = 0
    """Sent by an earlier run of the same broadcast (not sent again)."""
    blocked: int = 0
    failed: int = 0
    pending: int = 0
    """Queued for later (a flood wait, a network failure): the bot's outbox sends them."""
    opted_out: int = 0
    unreachable: int = 0
    held_until: dt.datetime | None = None
    stopped: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.sent + self.already + self.blocked + self.failed + self.pending

    def lines(self) -> list[str]:
        lines = [
            f"Broadcast {self.broadcast}: {self.audience} members",
            f"  sent:    {self.sent}" + (f" (+{self.already} before)" if self.already else ""),
            f"  blocked: {self.blocked} (marked unreachable, skipped next time)",
            f"  failed:  {self.failed}",
            f"  skipped: {self.opted_out} turned news off, {self.unreachable} unreachable",
        ]
        if self.pending:
            lines.append(f"  waiting: {self.pending} (sent by the bot's outbox when due)")
        if self.stopped:
            lines.append("Stopped: run the same command again to carry on.")
        if self.held_until is not None:
            lines.append(f"Quiet hours: held until {self.held_until:%Y-%m-%d %H:%M %Z}.")
        return lines


Progress = Callable[[BroadcastReport], None]


@dataclass(eq=False)
class Broadcaster:
    outbox: Outbox
    bot: Bot
    switches: NotificationSettings
    _: KW_ONLY
    quiet: QuietHours
    clock: Clock = utc_now
    workers: int = WORKERS

    async def run(
        self,
        report: BroadcastReport,
        recipients: Sequence[Recipient],
        text: str,
        *,
        photo: Path | None = None,
        stop: asyncio.Event | None = None,
        wait_quiet: bool = True,
        progress: Progress | None = None,
    ) -> BroadcastReport:
        """Send ``text`` to each recipient once; returns the report (also when stopped or
        held by quiet hours without ``wait_quiet``)."""
        stop = stop or asyncio.Event()
        queue: asyncio.Queue[Recipient] = asyncio.Queue()
        for recipient in recipients:
            queue.put_nowait(recipient)

        async def worker() -> None:
            while not stop.is_set():
                if not await self._outside_quiet_hours(report, stop, wait_quiet):
                    return
                try:
                    recipient = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await self._send(report, recipient, text, photo)
                if progress is not None:
                    progress(report)

        # With a picture, the first copy uploads it alone; the others send its file_id.
        if (
            photo is not None
            and not queue.empty()
            and not stop.is_set()
            and await self._outside_quiet_hours(report, stop, wait_quiet)
        ):
            await self._send(report, queue.get_nowait(), text, photo)
        await asyncio.gather(*(worker() for _ in range(self.workers)))
        report.stopped = stop.is_set() and not queue.empty()
        return report

    async def _outside_quiet_hours(
        self, report: BroadcastReport, stop: asyncio.Event, wait: bool
    ) -> bool:
        while (until := self.quiet.until(self.clock())) is not None:
            report.held_until = until
            if not wait:
                return False
            log.info("Quiet hours: the broadcast waits until %s", until)
            seconds = min((until - self.clock()).total_seconds(), 60.0)
            try:
                await asyncio.wait_for(stop.wait(), max(seconds, 0.1))
                return False
            except TimeoutError:
                continue
        report.held_until = None
        return True

    async def _send(
        self, report: BroadcastReport, recipient: Recipient, text: str, photo: Path | None
    ) -> None:
        key = f"broadcast:{report.broadcast}:{recipient.telegram_user_id}"
        repository = self.outbox.repository
        before = await repository.get(key)
        if before is not None and before.state == "sent":
            report.already += 1
            return
        try:
            if photo is None:
                await self.outbox.send_text(self.bot, key, recipient.telegram_user_id, text)
            else:
                payload = {"path": str(photo), "caption": text, "reply_markup": None}
                await self.outbox.deliver(
                    self.bot, key, recipient.telegram_user_id, "photo", payload
                )
        except Exception as exc:
            log.exception("Broadcast to %s not sent", recipient.telegram_user_id)
            report.failed += 1
            report.errors.append(f"{recipient.telegram_user_id}: {exc}")
            return
        message = await repository.get(key)
        if message is None:
            report.failed += 1
        elif message.state == "sent":
            report.sent += 1
        elif message.state == "failed":
            if any(word in message.error.lower() for word in UNREACHABLE_ERRORS):
                await self.switches.mark_unreachable(recipient.telegram_user_id)
                report.blocked += 1
            else:
                report.failed += 1
                report.errors.append(f"{recipient.telegram_user_id}: {message.error}")
        else:
            report.pending += 1


def progress_bar(report: BroadcastReport, width: int = 30) -> str:
    total = max(report.audience, 1)
    filled = min(width, report.done * width // total)
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {report.done}/{report.audience} "
        f"sent {report.sent + report.already} blocked {report.blocked} failed {report.failed}"
    )


def read_text(path: Path) -> str:
    return markdown_to_html(path.read_text(encoding="utf-8"))


CAPTION_LIMIT = 1024


def caption_fits(text_html: str) -> bool:
    """Whether the text, as Telegram counts it (tags dropped, UTF-16), fits a caption."""
    visible = html.unescape(re.sub(r"<[^>]*>", "", text_html))
    return len(visible.encode("utf-16-le")) // 2 <= CAPTION_LIMIT


def load_photo(path: Path) -> tuple[Path, bytes]:
    """The picture's absolute path (the outbox may send it from another directory later)
    and its content."""
    absolute = path.resolve()
    return absolute, absolute.read_bytes()
