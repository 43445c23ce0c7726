"""aiogram FSM storage in the bot's SQLite database, so a restart mid-flow loses nothing.

A key's bot, chat, user, thread, business connection and destiny are separate columns, so
keys that differ in any one of them never share a row. Data is stored as JSON, never pickle,
and must survive the JSON round trip unchanged: anything else is refused when it is written,
not discovered after a restart.

Fast and durable at once: every write is committed before ``set_state``/``set_data``
returns, and the writes of users who write at the same moment share one commit (one
transaction for the whole batch). Reads come from memory, write-through: a key read once or
written stays in a bounded cache in front of its row. That is safe because one process owns
the sessions in its database file (``claim_sessions`` makes a second ``run`` on the same file
refuse to start; replicas keep sessions in Redis), and all storages on one ``Database``
share one cache.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.storage.database import Database
from bot.storage.timestamps import Clock, to_text, utc_now

_KEY_COLUMNS = "bot_id, chat_id, user_id, thread_id, business_connection_id, destiny"
_KEY_MATCH = (
    "bot_id = ? AND chat_id = ? AND user_id = ? AND thread_id = ? "
    "AND business_connection_id = ? AND destiny = ?"
)


def encode_data(data: Mapping[str, Any]) -> str | None:
    """JSON text for FSM data, ``None`` for empty data; ``TypeError`` if JSON would change it."""
    if not isinstance(data, dict):
        raise DataNotDictLikeError(
            f"Data must be a dict or dict-like object, got {type(data).__name__}"
        )
    if not data:
        return None
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "FSM data must be JSON: str, int, float, bool, None, lists and dicts with str "
            f"keys; {exc}"
        ) from exc
    if json.loads(text) != data:
        raise TypeError(
            "FSM data must survive a JSON round trip unchanged: use lists instead of tuples "
            "and str dict keys"
        )
    return text


def _decode_data(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    decoded = json.loads(text)
    if not isinstance(decoded, dict):
        raise ValueError(f"FSM data in the database is not a JSON object: {text[:80]!r}")
    return decoded


CACHED_KEYS = 20_000
"""Sessions kept in memory per database; the least recently used beyond this are read again."""

Key = tuple[int, int, int, int, str, str]


@dataclass(frozen=True, slots=True)
class _Record:
    state: str | None = None
    data: str | None = None
    """The data as JSON text, so no caller ever holds the cached object."""

    @property
    def empty(self) -> bool:
        return self.state is None and self.data is None


_EMPTY = _Record()


def _key(key: StorageKey) -> Key:
    return (
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
    )


class _Sessions:
    """The cache and the group-commit writer of one database, shared by its storages."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._records: OrderedDict[Key, _Record] = OrderedDict()
        self._queued: dict[Key, _Record] = {}
        self._batch: asyncio.Future[None] | None = None
        """Resolved when the queued writes are committed (or failed)."""
        self._unsettled: dict[Key, asyncio.Future[None]] = {}
        """Per key, the commit its last write waits for."""
        self._writer: asyncio.Task[None] | None = None

    async def read(self, key: Key) -> _Record:
        record = self._records.get(key)
        if record is not None:
            self._records.move_to_end(key)
            return record
        row = await self._database.fetch_one(
            f"SELECT state, data FROM fsm_records WHERE {_KEY_MATCH}", key
        )
        loaded = _EMPTY if row is None else _Record(row["state"], row["data"])
        # A write that happened while the row was read is newer: it wins.
        record = self._records.setdefault(key, loaded)
        self._trim()
        return record

    async def write(self, key: Key, record: _Record) -> None:
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
        try:
            await asyncio.shield(batch)
        except BaseException:
            if batch.done() and batch.exception() is not None:
                # Not stored: forget what the cache was told, the row is the truth again.
                self._records.pop(key, None)
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
            except BaseException as exc:
                batch.set_exception(exc)
                batch.exception()  # retrieved here; each writer re-raises it
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                batch.set_result(None)

    async def _commit(self, queued: dict[Key, _Record]) -> None:
        now = to_text(self._clock())
        kept = [(*key, r.state, r.data, now) for key, r in queued.items() if not r.empty]
        cleared = [key for key, r in queued.items() if r.empty]
        async with self._database.transaction() as tx:
            if kept:
                await tx.execute_many(
                    f"INSERT INTO fsm_records ({_KEY_COLUMNS}, state, data, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    f"ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET state = excluded.state, "
                    "data = excluded.data, updated_at = excluded.updated_at",
                    kept,
                )
            if cleared:
                await tx.execute_many(f"DELETE FROM fsm_records WHERE {_KEY_MATCH}", cleared)

    def _trim(self) -> None:
        while len(self._records) > CACHED_KEYS:
            oldest = next(iter(self._records))
            if oldest in self._unsettled:
                # Not committed yet: it must stay readable; trim again on a later write.
                return
            del self._records[oldest]


_sessions: weakref.WeakKeyDictionary[Database, _Sessions] = weakref.WeakKeyDictionary()


def _sessions_of(database: Database, clock: Clock) -> _Sessions:
    sessions = _sessions.get(database)
    if sessions is None:
        sessions = _sessions[database] = _Sessions(database, clock)
    return sessions


def forget_sessions(database: Database, user_id: int) -> None:
    """Tell the cache that this user's ``fsm_records`` rows were deleted."""
    sessions = _sessions.get(database)
    if sessions is not None:
        sessions.forget(user_id)


class SQLiteStorage(BaseStorage):
    """FSM state and data per ``StorageKey`` in the ``fsm_records`` table.

    ``close()`` closes the database only when ``owns_database`` is true: the Dispatcher
    closes its storage at shutdown, while the same database may still serve other parts
    of the bot.
    """

    def __init__(
        self,
        database: Database,
        *,
        owns_database: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self._database = database
        self._owns_database = owns_database
        self._sessions = _sessions_of(database, clock)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        sessions, stored = self._sessions, _key(key)
        record = await sessions.read(stored)
        await sessions.write(stored, _Record(value, record.data))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._sessions.read(_key(key))).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        sessions, stored = self._sessions, _key(key)
        record = await sessions.read(stored)
        await sessions.write(stored, _Record(record.state, text))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return _decode_data((await self._sessions.read(_key(key))).data)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``data`` into the stored data; returns the merged data.

        The read and the write have no ``await`` between them once the key is in memory, so
        concurrent merges on one key in this process never lose each other's fields.
        """
        sessions, stored = self._sessions, _key(key)
        record = await sessions.read(stored)
        merged = _decode_data(record.data)
        merged.update(data)
        await sessions.write(stored, _Record(record.state, encode_data(merged)))
        return merged

    async def close(self) -> None:
        if self._owns_database:
            await self._database.close()
