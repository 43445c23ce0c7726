"""Messages to members, kept until Telegram has taken them, each under a key sent at most once.

A message is queued under an idempotency key (queuing the same key again changes nothing),
claimed for one sender at a time (``sending`` with a lease), then marked ``sent`` or queued
again for later (a flood wait, a network failure). One chat's messages go out in the order
they were queued.

Telegram offers no way to ask whether a message arrived, so the moment it answers, the
message's id is appended to ``SentJournal`` (a plain file, written without waiting for the
database, which may be busy with other work): a process killed before the database recorded
the send still leaves the proof, and the message is not sent again. A claim whose lease ran
out with no such proof (killed before Telegram answered) is queued again and flagged
``in_doubt``: Telegram may or may not have shown it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.storage.database import Database, Repository, Transaction
from bot.storage.timestamps import Clock, from_text, to_text, utc_now

KEEP_SENT = dt.timedelta(days=30)
JOURNAL_SUFFIX = ".outbox-sent"


class SentJournal:
    """Ids of outbox messages Telegram has taken, one per line, appended synchronously (an
    append of a few bytes survives the process being killed). ``None`` path: kept nowhere."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    def record(self, message_id: int) -> None:
        if self.path is None:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, b"%d\n" % message_id)

    def read(self) -> set[int]:
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, set[int]]:
        """The file's size and the ids in it."""
        if self.path is None or not self.path.exists():
            return 0, set()
        content = self.path.read_bytes()
        return len(content), {int(line) for line in content.split() if line.isdigit()}

    def clear_if_size(self, size: int) -> bool:
        """Empty the file if nothing was appended since it had ``size`` bytes."""
        if self.path is None or not self.path.exists() or self.path.stat().st_size != size:
            return False
        os.truncate(self.path, 0)
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    key: str
    chat_id: int
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    in_doubt: bool
    next_attempt_at: dt.datetime
    message_id: int | None
    error: str


def _message(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage(
        id=int(row["id"]),
        key=row["key"],
        chat_id=int(row["chat_id"]),
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        state=row["state"],
        attempts=int(row["attempts"]),
        in_doubt=bool(row["in_doubt"]),
        next_attempt_at=from_text(row["next_attempt_at"]),
        message_id=row["message_id"],
        error=row["error"],
    )


class OutboxRepository(Repository):
    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        super().__init__(database, clock=clock)
        file = database.file
        path = None if file is None else Path(f"{file}{JOURNAL_SUFFIX}")
        self.journal = SentJournal(path)

    async def put(
        self, key: str, chat_id: int, kind: str, payload: dict[str, Any]
    ) -> tuple[OutboxMessage, bool]:
        """Queue a message under ``key``; returns it and whether it is new (else the one
        already queued or sent under that key, unchanged)."""
        if not key:
            raise ValueError("an outbox message needs a key")
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                "INSERT INTO outbox (key, chat_id, kind, payload, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING *",
                (key, chat_id, kind, json.dumps(payload), now, now),
            )
            if row is not None:
                return _message(row), True
            row = await tx.fetch_one("SELECT * FROM outbox WHERE key = ?", (key,))
        assert row is not None
        return _message(row), False

    async def get(self, key: str) -> OutboxMessage | None:
        return await self._database.fetch_one_as(
            _message, "SELECT * FROM outbox WHERE key = ?", (key,)
        )

    async def claim(self, message_id: int, lease: dt.timedelta) -> OutboxMessage | None:
        """Take this message for sending if it is queued, due and first in its chat."""
        now = self._clock()
        return await self._database.fetch_one_as(
            _message,
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
            "next_attempt_at = ? WHERE id = ? AND state = 'queued' AND next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.chat_id = "
            "outbox.chat_id AND earlier.id < outbox.id AND earlier.state IN "
            "('queued', 'sending')) RETURNING *",
            (to_text(now + lease), message_id, to_text(now)),
        )

    async def claim_due(
        self, limit: int, lease: dt.timedelta, *, abandoned: bool = False
    ) -> list[OutboxMessage]:
        """Take up to ``limit`` due messages, at most one per chat (the oldest), oldest first.

        A ``sending`` claim whose lease has run out is queued again first, flagged in doubt;
        with ``abandoned`` (the caller knows no other process is sending: a start with this
        file to itself) every ``sending`` claim is, at once.
        """
        now = self._clock()
        async with self._database.transaction() as tx:
            expired = await tx.fetch_all(
                "SELECT id FROM outbox WHERE state = 'sending' "
                "AND (? = 1 OR next_attempt_at <= ?)",
                (int(abandoned), to_text(now)),
            )
            if expired:
                proven = self.journal.read()
                for row in expired:
                    if row["id"] in proven:
                        await tx.execute(
                            "UPDATE outbox SET state = 'sent', sent_at = ?, payload = '{}' "
                            "WHERE id = ?",
                            (to_text(now), row["id"]),
                        )
                    else:
                        await tx.execute(
                            "UPDATE outbox SET state = 'queued', in_doubt = 1, "
                            "next_attempt_at = ? WHERE id = ?",
                            (to_text(now), row["id"]),
                        )
            rows = await tx.fetch_all(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
                "next_attempt_at = ? WHERE id IN (SELECT id FROM outbox AS first "
                "WHERE state = 'queued' AND next_attempt_at <= ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox AS earlier WHERE earlier.chat_id = first.chat_id "
                "AND earlier.id < first.id AND earlier.state IN ('queued', 'sending')) "
                "ORDER BY id LIMIT ?) RETURNING *",
                (to_text(now + lease), to_text(now), limit),
            )
        return sorted((_message(row) for row in rows), key=lambda message: message.id)

    async def next_due(self) -> dt.datetime | None:
        """When the earliest queued or leased message falls due, if any."""
        row = await self._database.fetch_one(
            "SELECT min(next_attempt_at) FROM outbox WHERE state IN ('queued', 'sending')"
        )
        return None if row is None or row[0] is None else from_text(row[0])

    async def mark_sent(self, message_id: int, telegram_message_id: int | None) -> None:
        """Sent: only the key stays (names and card numbers are not kept past their use)."""
        await self._database.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, message_id = ?, error = '', "
            "payload = '{}' WHERE id = ?",
            (to_text(self._clock()), telegram_message_id, message_id),
        )

    async def retry_at(
        self,
        message_id: int,
        at: dt.datetime,
        error: str,
        *,
        in_doubt: bool = False,
        counted: bool = True,
    ) -> None:
        """Queue again for ``at``; ``counted=False`` (a flood wait) does not count the try
        towards giving up."""
        await self._database.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?, error = ?, "
            "in_doubt = CASE WHEN ? = 1 THEN 1 ELSE in_doubt END, attempts = attempts - ? "
            "WHERE id = ?",
            (to_text(at), error[:1000], int(in_doubt), int(not counted), message_id),
        )

    async def mark_failed(self, message_id: int, error: str) -> None:
        """Given up: Telegram refused it for good (blocked by the user, a bad request)."""
        await self._database.execute(
            "UPDATE outbox SET state = 'failed', error = ? WHERE id = ?",
            (error[:1000], message_id),
        )

    async def compact_journal(self) -> bool:
        """Empty the sent journal once none of its ids is needed as proof any more (no
        message it names is still being sent); True if it was emptied."""
        size, ids = self.journal.snapshot()
        if not ids:
            return False
        listed = sorted(ids)
        for start in range(0, len(listed), 500):
            chunk = listed[start : start + 500]
            row = await self._database.fetch_one(
                "SELECT count(*) FROM outbox WHERE state = 'sending' "
                f"AND id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            if row is not None and row[0]:
                return False
        return self.journal.clear_if_size(size)

    async def all(self) -> list[OutboxMessage]:
        return await self._database.fetch_all_as(_message, "SELECT * FROM outbox ORDER BY id")

    async def forget_old(self, keep: dt.timedelta = KEEP_SENT) -> int:
        return await self._database.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND created_at < ?",
            (to_text(self._clock() - keep),),
        )


async def erase_member_messages(tx: Transaction, telegram_user_id: int) -> int:
    """Forget me: the messages to the user's private chat, queued or sent."""
    return await tx.execute("DELETE FROM outbox WHERE chat_id = ?", (telegram_user_id,))
