"""Where conversation state lives and how one user's updates are kept in order.

One process: the bot's SQLite file and an in-process lock per user. Several replicas: Redis,
shared by all of them (aiogram's ``RedisStorage`` and ``RedisEventIsolation``), so a user's
next update may reach any replica and still find the join they were in the middle of, and two
updates of one user are never handled at the same time, even on two machines.
"""

from __future__ import annotations

from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation

from bot.config import Settings
from bot.storage.database import Database
from bot.storage.fsm import SQLiteStorage
from bot.storage.timestamps import Clock, utc_now

REDIS_KEY_PREFIX = "loyalty-bot"


class SessionStoreUnreachable(Exception):
    """The configured Redis does not answer; the text never contains its URL (or password)."""


def session_store(
    settings: Settings, db: Database, *, clock: Clock = utc_now
) -> tuple[BaseStorage, BaseEventIsolation]:
    """The FSM storage and event isolation the settings ask for (closed by the Dispatcher)."""
    if settings.redis_url is None:
        return SQLiteStorage(db, clock=clock), SimpleEventIsolation()
    from aiogram.fsm.storage.base import DefaultKeyBuilder
    from aiogram.fsm.storage.redis import RedisStorage

    # Bot id and destiny in the key: two bots (or two flows) on one Redis never mix.
    keys = DefaultKeyBuilder(prefix=REDIS_KEY_PREFIX, with_bot_id=True, with_destiny=True)
    storage = RedisStorage.from_url(settings.redis_url.get_secret_value(), key_builder=keys)
    return storage, storage.create_isolation()


async def check_session_store(storage: BaseStorage) -> None:
    """Raise ``SessionStoreUnreachable`` when the storage is Redis and it does not answer."""
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.exceptions import RedisError

    if not isinstance(storage, RedisStorage):
        return
    try:
        await storage.redis.ping()
    except (RedisError, OSError) as exc:
        # The exception text may quote the address; the type names the failure well enough.
        raise SessionStoreUnreachable(
            f"Redis (REDIS_URL) does not answer: {type(exc).__name__}"
        ) from None
