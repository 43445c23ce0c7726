"""aiogram FSM storage in the bot's SQLite database, so a restart mid-flow loses nothing.

A key's bot, chat, user, thread, business connection and destiny are separate columns, so
keys that differ in any one of them never share a row. Data is stored as JSON, never pickle,
and must survive the JSON round trip unchanged: anything else is refused when it is written,
not discovered after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.storage.database import Database, Params, Transaction
from bot.storage.timestamps import Clock, to_text, utc_now

_KEY_COLUMNS = "bot_id, chat_id, user_id, thread_id, business_connection_id, destiny"
_KEY_MATCH = (
    "bot_id = ? AND chat_id = ? AND user_id = ? AND thread_id = ? "
    "AND business_connection_id = ? AND destiny = ?"
)


def _key_params(key: StorageKey) -> Params:
    return (
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
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
        self._clock = clock

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._database.transaction() as tx:
            await self._write(tx, key, "state", value)

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._database.fetch_one(
            f"SELECT state FROM fsm_records WHERE {_KEY_MATCH}", _key_params(key)
        )
        return None if row is None else row["state"]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        async with self._database.transaction() as tx:
            await self._write(tx, key, "data", text)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._database.fetch_one(
            f"SELECT data FROM fsm_records WHERE {_KEY_MATCH}", _key_params(key)
        )
        return {} if row is None else _decode_data(row["data"])

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``data`` into the stored data in one transaction; returns the merged data."""
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                f"SELECT data FROM fsm_records WHERE {_KEY_MATCH}", _key_params(key)
            )
            merged = {} if row is None else _decode_data(row["data"])
            merged.update(data)
            await self._write(tx, key, "data", encode_data(merged))
        return merged

    async def close(self) -> None:
        if self._owns_database:
            await self._database.close()

    async def _write(
        self, tx: Transaction, key: StorageKey, column: str, value: str | None
    ) -> None:
        params = _key_params(key)
        if value is None:
            await tx.execute(f"UPDATE fsm_records SET {column} = NULL WHERE {_KEY_MATCH}", params)
            await tx.execute(
                f"DELETE FROM fsm_records WHERE {_KEY_MATCH} AND state IS NULL AND data IS NULL",
                params,
            )
            return
        await tx.execute(
            f"INSERT INTO fsm_records ({_KEY_COLUMNS}, {column}, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET "
            f"{column} = excluded.{column}, updated_at = excluded.updated_at",
            (*params, value, to_text(self._clock())),
        )
