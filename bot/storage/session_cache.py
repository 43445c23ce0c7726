"""The sessions of one database in memory, in front of the ``fsm_records`` table.

Reads are served from a bounded cache (write-through); writes are committed before they
return, and the writes of users who write at the same moment share one transaction. Only the
aiogram storage (``bot.storage.fsm``) reads and writes through it; ``forget_sessions`` lets
"forget me" drop a user's cached sessions with their rows. No aiogram here, so table-only
commands (import, links) do not pay for importing it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from bot.storage.database import Database
from bot.storage.timestamps import Clock, to_text

KEY_COLUMNS = "bot_id, chat_id, user_id, thread_id, business_connection_id, destiny"
KEY_MATCH = (
    "bot_id = ? AND chat_id = ? AND user_id = ? AND thread_id = ? "
    "AND business_connection_id = ? AND destiny = ?"
)


CACHED_KEYS = 20_000
"""Sessions kept in memory per database; the least recently used beyond this are read again."""

Key = tuple[int, int, int, int, str, str]


@dataclass(frozen=True, slots=True)
class Record:
    state: str | None = None
    data: str | None = None
    """The data as JSON text, so no caller ever holds the cached object."""

    @property
    def empty(self) -> bool:
        return self.state is None and self.data is None


EMPTY = Record()


class Sessions:
    """The cache and the group-commit writer of one database, shared by its storages."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._records: OrderedDict[Key, Record] = OrderedDict()
        self._queued: dict[Key, Record] = {}
        self._batch: asyncio.Future[None] | None = None
        """Resolved when the queued writes are committed (or failed)."""
        self._unsettled: dict[Key, asyncio.Future[None]] = {}
        """Per key, the commit its last write waits for."""
        self._writer: asyncio.Task[None] | None = None

    async def read(self, key: Key) -> Record:
        record = self._records.get(key)
        if record is not None:
            self._records.move_to_end(key)
            return record
        row = await self._database.fetch_one(
            f"SELECT state, data FROM fsm_records WHERE {KEY_MATCH}", key
        )
        loaded = EMPTY if row is None else Record(row["state"], row["data"])
        # A write that happened while the row was read is newer: it wins.
        record = self._records.setdefault(key, loaded)
        self._trim()
        return record

    async def write(self, key: Key, record: Record) -> None:
        """Remember ``record`` and return once it is committed."""
        if self._records.get(key) == record:
            unsettled = self._unsettled.get(key)
            if unsettled is not None:
                await asyncio.shield(unsettled)
            return
        self._records[key] = record
        self._records.move_to_end(key)
        self._trim()
        self._queued[key] = record
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        batch = self._batch
        self._unsettled[key] = batch
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
            self._writer.add_done_callback(self._writer_ended)
        try:
            await asyncio.shield(batch)
        except BaseException:
            if batch.done() and batch.exception() is not None and self._records.get(key) is record:
                # Not stored: forget what the cache was told, the row is the truth again
                # (unless a newer write of the key has replaced it meanwhile).
                del self._records[key]
            raise
        finally:
            if self._unsettled.get(key) is batch:
                del self._unsettled[key]

    def forget(self, user_id: int) -> None:
        """Drop cached sessions of this user or their private chat (their rows were deleted)."""
        for key in [key for key in self._records if user_id in (key[1], key[2])]:
            del self._records[key]

    async def _write_batches(self) -> None:
        while self._queued:
            queued, batch = self._queued, self._batch
            self._queued, self._batch = {}, None
            assert batch is not None
            try:
                await self._commit(queued)
            except asyncio.CancelledError:
                _fail(batch)
                raise
            except Exception as exc:
                batch.set_exception(exc)
                batch.exception()  # retrieved here; each writer re-raises it
            else:
                batch.set_result(None)

    def _writer_ended(self, writer: asyncio.Task[None]) -> None:
        """A writer stopped (cancelled, even before it began) with writes still queued: their
        writers hear it rather than wait forever; the next write starts a new writer."""
        if writer.cancelled() and self._batch is not None:
            _fail(self._batch)
            self._queued, self._batch = {}, None

    async def _commit(self, queued: dict[Key, Record]) -> None:
        now = to_text(self._clock())
        kept = [(*key, r.state, r.data, now) for key, r in queued.items() if not r.empty]
        cleared = [key for key, r in queued.items() if r.empty]
        async with self._database.transaction() as tx:
            if kept:
                await tx.execute_many(
                    f"INSERT INTO fsm_records ({KEY_COLUMNS}, state, data, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    f"ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET state = excluded.state, "
                    "data = excluded.data, updated_at = excluded.updated_at",
                    kept,
                )
            if cleared:
                await tx.execute_many(f"DELETE FROM fsm_records WHERE {KEY_MATCH}", cleared)

    def _trim(self) -> None:
        while len(self._records) > CACHED_KEYS:
            oldest = next(iter(self._records))
            if oldest in self._unsettled:
                # Not committed yet: it must stay readable; trim again on a later write.
                return
            del self._records[oldest]


def _fail(batch: asyncio.Future[None]) -> None:
    if not batch.done():
        batch.set_exception(RuntimeError("the session writer was stopped before committing"))
        batch.exception()  # retrieved here; each writer re-raises it


_sessions: weakref.WeakKeyDictionary[Database, Sessions] = weakref.WeakKeyDictionary()


def sessions_of(database: Database, clock: Clock) -> Sessions:
    sessions = _sessions.get(database)
    if sessions is None:
        sessions = _sessions[database] = Sessions(database, clock)
    return sessions


def forget_sessions(database: Database, user_id: int) -> None:
    """Tell the cache that this user's ``fsm_records`` rows were deleted."""
    sessions = _sessions.get(database)
    if sessions is not None:
        sessions.forget(user_id)
