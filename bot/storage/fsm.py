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

import json
from collections.abc import Mapping
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.storage.database import Database
from bot.storage.session_cache import Key, Record, sessions_of
from bot.storage.timestamps import Clock, utc_now


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


def _key(key: StorageKey) -> Key:
    return (
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
    )


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
        self._sessions = sessions_of(database, clock)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        sessions, stored = self._sessions, _key(key)
        record = await sessions.read(stored)
        await sessions.write(stored, Record(value, record.data))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._sessions.read(_key(key))).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        sessions, stored = self._sessions, _key(key)
        record = await sessions.read(stored)
        await sessions.write(stored, Record(record.state, text))

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
        await sessions.write(stored, Record(record.state, encode_data(merged)))
        return merged

    async def close(self) -> None:
        if self._owns_database:
            await self._database.close()
