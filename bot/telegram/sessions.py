"""Where conversation state lives and how one user's updates are kept in order.

One process: the bot's SQLite file and an in-process lock per user. Several replicas: Redis,
shared by all of them (aiogram's ``RedisStorage`` and ``RedisEventIsolation``), so a user's
next update may reach any replica and still find the join they were in the middle of, and two
updates of one user are never handled at the same time, even on two machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, KeyBuilder, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation

from bot.config import Settings
from bot.storage.database import Database
from bot.storage.fsm import SQLiteStorage
from bot.storage.timestamps import Clock, utc_now

if TYPE_CHECKING:
    from aiogram.fsm.storage.redis import RedisStorage

REDIS_KEY_PREFIX = "loyalty-bot"


class LabelledKeyBuilder(KeyBuilder):
    """Redis keys with every part named, so no two storage keys read alike.

    aiogram's ``DefaultKeyBuilder`` joins bare values with colons, so business connection 5,
    chat 1, user 2 and chat 5, thread 1, user 2 both become ``…:5:1:2``. Here they are
    ``…:chat=1:user=2:business=5`` and ``…:chat=5:user=2:thread=1``; text parts are
    percent-encoded, so they cannot contain the separator.
    """

    def build(self, key: StorageKey, part: Literal["data", "state", "lock"] | None = None) -> str:
        fields = [REDIS_KEY_PREFIX, f"bot={key.bot_id}", f"chat={key.chat_id}"]
        fields.append(f"user={key.user_id}")
        if key.thread_id is not None:
            fields.append(f"thread={key.thread_id}")
        if key.business_connection_id is not None:
            fields.append(f"business={quote(key.business_connection_id, safe='')}")
        fields.append(f"destiny={quote(key.destiny, safe='')}")
        if part:
            fields.append(part)
        return ":".join(fields)


def redis_storage(url: str) -> RedisStorage:
    """aiogram's Redis storage with this bot's keys; ``create_isolation()`` gives the locks."""
    from aiogram.fsm.storage.redis import RedisStorage

    return RedisStorage.from_url(url, key_builder=LabelledKeyBuilder())


class SessionStoreUnreachable(Exception):
    """The configured Redis does not answer; the text never contains its URL (or password)."""


def session_store(
    settings: Settings, db: Database, *, clock: Clock = utc_now
) -> tuple[BaseStorage, BaseEventIsolation]:
    """The FSM storage and event isolation the settings ask for (closed by the Dispatcher)."""
    if settings.redis_url is None:
        return SQLiteStorage(db, clock=clock), SimpleEventIsolation()
    storage = redis_storage(settings.redis_url.get_secret_value())
    # A user's lock held by a replica that died lapses when its updates are taken over.
    lock = {"timeout": settings.webhook.takeover_seconds}
    return storage, storage.create_isolation(lock_kwargs=lock)


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
