"""One process owns the conversation sessions kept in the bot's database.

The SQLite session storage answers reads from memory (``bot.storage.fsm``), which is right
only while no other process writes the same rows. ``claim_sessions`` takes an exclusive
``flock`` on a file beside the database for as long as the process runs; the kernel drops it
when the process ends, however it ends (kill -9 included), so a stale claim never blocks a
restart. A second process on the same file is refused instead of reading stale sessions.

On PostgreSQL the claim is a session-level advisory lock held by a connection of its own,
which the server drops when that connection ends, however the process ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.storage.database import MEMORY, Database

SESSIONS_LOCK = 0x73657373696F6E73
"""The advisory lock of the process that keeps sessions in a PostgreSQL database."""


class SessionsTaken(Exception):
    """Another process keeps its conversation sessions in this database file."""


class SessionsClaim:
    def __init__(self, descriptor: int | None) -> None:
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor drops the lock
            self._descriptor = None


def claim_sessions(database_path: str) -> SessionsClaim:
    """Claim the sessions of ``database_path`` for this process, or raise ``SessionsTaken``."""
    if database_path == MEMORY:
        return SessionsClaim(None)
    lock_path = Path(f"{database_path}.sessions.lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise _taken(database_path) from None
    return SessionsClaim(descriptor)


def _taken(where: str) -> SessionsTaken:
    return SessionsTaken(
        f"another loyalty-bot process keeps its conversation sessions in {where}; "
        "stop it, or run several replicas with REDIS_URL set on each"
    )


async def claim_database_sessions(database: Database) -> Callable[[], Awaitable[None]]:
    """Claim the sessions of ``database`` (either engine); returns the release."""
    if database.engine == "sqlite":
        claim = claim_sessions(database.path)

        async def release() -> None:
            claim.release()

        return release
    from bot.storage.postgres import PostgresDatabase

    assert isinstance(database, PostgresDatabase)
    connection = await database.hold_advisory_lock(SESSIONS_LOCK)
    if connection is None:
        raise _taken(database.path)

    async def let_go() -> None:
        await connection.close()

    return let_go
