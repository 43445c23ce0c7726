"""Updates kept on disk from the moment Telegram hands them over until they are handled.

A batch of updates is written in one statement before Telegram is told it arrived (the next
``getUpdates`` offset, or the webhook's 200). Each ``update_id`` is kept once: a handled
update stays as a ``done`` row without its payload, so Telegram delivering it again (the
offset was not confirmed yet, a webhook retry) does not handle it twice. An update that
cannot be parsed or keeps failing moves to ``dead_updates`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage.database import Repository, SQLValue, Transaction
from bot.storage.timestamps import to_text

KEEP_HANDLED = dt.timedelta(days=2)
"""How long a handled ``update_id`` is remembered; Telegram redelivers for at most 24 hours."""

_BATCH_ROWS = 200
"""Rows per multi-row statement (SQLite allows 32,766 parameters; 4 per row)."""


@dataclass(frozen=True, slots=True)
class InboxUpdate:
    update_id: int
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadUpdate:
    update_id: int
    payload_json: str
    reason: str
    attempts: int
    failed_at: str


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Inbox(Repository):
    async def store(
        self, updates: Sequence[Mapping[str, Any]], owner: str = "", *, starting: int = 0
    ) -> list[int]:
        """Keep a batch of raw updates in one transaction; returns the ids that were new
        (an id seen before, handled or not, is not kept or handled again). The first
        ``starting`` are stored with their handling counted as started (it starts at once),
        which spares a mark per update when the bot is not busy."""
        if not updates:
            return []
        now = to_text(self._clock())
        fresh: list[int] = []
        async with self._database.transaction() as tx:
            position = 0
            for chunk in _chunks(updates, _BATCH_ROWS):
                params: list[SQLValue] = []
                for update in chunk:
                    started = int(position < starting)
                    position += 1
                    params += [int(update["update_id"]), json.dumps(update), now, owner, started]
                rows = await tx.fetch_all(
                    "INSERT INTO inbox_updates (update_id, payload, received_at, owner, attempts) "
                    "VALUES "
                    + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
                    + " ON CONFLICT (update_id) DO NOTHING RETURNING update_id",
                    params,
                )
                fresh += [int(row["update_id"]) for row in rows]
        return fresh

    async def mark_handled(self, update_ids: Sequence[int]) -> None:
        """Handled: keep only the id (for deduplication), in one statement per 500 ids."""
        await self.record(started=(), handled=update_ids)

    async def record(self, *, started: Sequence[int], handled: Sequence[int]) -> None:
        """In one transaction: count a handling attempt for each of ``started``, and keep
        only the id of each of ``handled``."""
        if not started and not handled:
            return
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            for chunk in _chunks(started, 500):
                await tx.execute(
                    "UPDATE inbox_updates SET attempts = attempts + 1 "
                    f"WHERE update_id IN ({', '.join('?' * len(chunk))}) AND state = 'new'",
                    list(chunk),
                )
            for chunk in _chunks(handled, 500):
                await tx.execute(
                    "UPDATE inbox_updates SET state = 'done', payload = NULL, handled_at = ? "
                    f"WHERE update_id IN ({', '.join('?' * len(chunk))}) AND state = 'new'",
                    [now, *chunk],
                )

    async def take_over(
        self,
        owner: str,
        *,
        stale_owners_only: bool,
        stale_after: dt.timedelta,
        own_leftovers: bool = False,
    ) -> list[InboxUpdate]:
        """The unhandled updates this process now owns, oldest first, with the number of
        times their handling was started (and, unfinished, interrupted).

        ``stale_owners_only``: only those of owners not seen for ``stale_after`` (replicas
        sharing the file); otherwise every unhandled update (one polling process).
        ``own_leftovers`` (at start, with an owner name no live process can share, such as
        host and port): also those stored under this name by the process's previous run.
        """
        now = self._clock()
        cutoff = to_text(now - stale_after)
        async with self._database.transaction() as tx:
            rows = await tx.fetch_all(
                "UPDATE inbox_updates SET owner = ? "
                "WHERE state = 'new' AND ((owner = ? AND ? = 1) OR (owner != ? AND (? = 0 OR "
                "owner NOT IN (SELECT owner FROM inbox_owners WHERE seen_at > ?)))) "
                "RETURNING update_id, payload, attempts",
                (owner, owner, int(own_leftovers), owner, int(stale_owners_only), cutoff),
            )
        taken = [
            InboxUpdate(int(row["update_id"]), json.loads(row["payload"]), int(row["attempts"]))
            for row in rows
        ]
        return sorted(taken, key=lambda update: update.update_id)

    async def heartbeat(self, owner: str) -> None:
        await self._database.execute(
            "INSERT INTO inbox_owners (owner, seen_at) VALUES (?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at",
            (owner, to_text(self._clock())),
        )

    async def release(self, owner: str) -> None:
        """A stopping process hands its unhandled updates to whoever runs next."""
        async with self._database.transaction() as tx:
            await tx.execute(
                "UPDATE inbox_updates SET owner = '' WHERE owner = ? AND state = 'new'", (owner,)
            )
            await tx.execute("DELETE FROM inbox_owners WHERE owner = ?", (owner,))

    async def set_aside(
        self, update_id: int, payload: Mapping[str, Any] | str, reason: str, attempts: int
    ) -> None:
        """Move an update that cannot be handled to ``dead_updates``, with the reason."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            await tx.execute(
                "INSERT INTO dead_updates (update_id, payload, reason, attempts, failed_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (update_id) DO UPDATE SET "
                "payload = excluded.payload, reason = excluded.reason, "
                "attempts = excluded.attempts, failed_at = excluded.failed_at",
                (update_id, text, reason[:2000], attempts, now),
            )
            await tx.execute(
                "UPDATE inbox_updates SET state = 'dead', payload = NULL, handled_at = ? "
                "WHERE update_id = ?",
                (now, update_id),
            )

    async def dead(self) -> list[DeadUpdate]:
        rows = await self._database.fetch_all("SELECT * FROM dead_updates ORDER BY update_id")
        return [
            DeadUpdate(
                int(row["update_id"]),
                row["payload"],
                row["reason"],
                int(row["attempts"]),
                row["failed_at"],
            )
            for row in rows
        ]

    async def unhandled_count(self) -> int:
        row = await self._database.fetch_one(
            "SELECT count(*) FROM inbox_updates WHERE state = 'new'"
        )
        return 0 if row is None else int(row[0])

    async def forget_old(self, keep: dt.timedelta = KEEP_HANDLED) -> int:
        """Drop handled ids older than ``keep`` (Telegram no longer redelivers them)."""
        return await self._database.execute(
            "DELETE FROM inbox_updates WHERE state != 'new' AND handled_at < ?",
            (to_text(self._clock() - keep),),
        )


async def erase_set_aside_updates(tx: Transaction, telegram_user_id: int) -> int:
    """Forget me: the set-aside updates the user sent (their payloads may hold a phone).

    Read and matched here rather than in SQL: set-aside updates are few, and may not even be
    JSON, which each engine's JSON functions treat differently."""
    rows = await tx.fetch_all("SELECT update_id, payload FROM dead_updates")
    doomed = [(row["update_id"],) for row in rows if _mentions(row["payload"], telegram_user_id)]
    await tx.execute_many("DELETE FROM dead_updates WHERE update_id = ?", doomed)
    return len(doomed)


def _mentions(payload: str, telegram_user_id: int) -> bool:
    """Whether an update's event was sent by the user or in their chat."""
    try:
        update = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(update, dict):
        return False
    for event in update.values():
        if isinstance(event, dict):
            for part in ("from", "chat"):
                who = event.get(part)
                if isinstance(who, dict) and who.get("id") == telegram_user_id:
                    return True
    return False
