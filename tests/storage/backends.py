"""The session storages the bot can run on, each opened fresh in a folder: aiogram's
``MemoryStorage``, the bot's ``SQLiteStorage``, and aiogram's ``RedisStorage`` with the bot's
key builder on a real ``redis-server``. Used by the FSM contract tests and
``bench/session_storage.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.storage import open_database
from bot.storage.fsm import SQLiteStorage
from bot.telegram.sessions import redis_storage
from tests.redis_server import redis_server

BackendFactory = Callable[[Path], AbstractAsyncContextManager[BaseStorage]]


@asynccontextmanager
async def memory_backend(folder: Path) -> AsyncIterator[BaseStorage]:
    storage = MemoryStorage()
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def sqlite_backend(folder: Path) -> AsyncIterator[BaseStorage]:
    storage = SQLiteStorage(await open_database(folder / "fsm.db"), owns_database=True)
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def redis_backend(folder: Path) -> AsyncIterator[BaseStorage]:
    """aiogram's ``RedisStorage`` with the bot's key builder, on a real ``redis-server``."""
    async with redis_server() as url:
        storage = redis_storage(url)
        try:
            yield storage
        finally:
            await storage.close()


BACKENDS: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
    "redis": redis_backend,
}
