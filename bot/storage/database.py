"""The bot's SQLite database: one long-lived aiosqlite connection per process.

Every statement runs under one ``asyncio.Lock``, so a coroutine's transaction never
interleaves with another coroutine's statements on the shared connection. Writes that span
several statements use ``BEGIN IMMEDIATE``, which takes SQLite's write lock up front; with
``busy_timeout`` this also keeps several processes on one file from losing each other's writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.storage.migrations import MIGRATIONS, Migration, check_migrations

SQLValue = int | float | str | bytes | None
Params = Sequence[SQLValue]

MEMORY = ":memory:"


@dataclass(slots=True)
class _Hold:
    database: Database
    active: bool = True


# Seen by the holder and by tasks it starts, so waiting for the lock it holds fails loudly.
_holding: ContextVar[_Hold | None] = ContextVar("bot_storage_holding", default=None)


class SchemaError(RuntimeError):
    """The database file's schema cannot be brought to the version this code expects."""


class Transaction:
    """Statements inside one open transaction; only valid inside ``Database.transaction()``."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    # Each statement is one trip to the connection's thread: the query and its rows together
    # (``execute_fetchall``), a change and its row count together.

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self._connection.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._connection.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cursor = await self._connection.execute(sql, params)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per row of parameters, in one step."""
        await self._connection.executemany(sql, rows)


class Database:
    """The shared connection. Use ``open_database`` to get one, ``close`` to end it.

    Writes and transactions take turns on the writing connection. Single reads outside a
    transaction go to a second, read-only connection and wait for no lock: WAL lets them read
    the last commit while a transaction is open, so a user's read never queues behind other
    users' writes. (An in-memory database has one connection, so it has no reader.)
    """

    def __init__(self, connection: aiosqlite.Connection, path: str) -> None:
        self._connection = connection
        self._reader: aiosqlite.Connection | None = None
        self._path = path
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed

    def _refuse_inside_transaction(self) -> None:
        held = _holding.get()
        if held is not None and held.active and held.database is self:
            raise RuntimeError(
                "the database is already in use by this flow of work: "
                "run the statement on the open Transaction instead of the Database"
            )

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[Transaction]:
        self._refuse_inside_transaction()
        async with self._lock:
            if self._closed:
                raise RuntimeError(f"the database {self._path} is closed")
            hold = _Hold(self)
            token = _holding.set(hold)
            try:
                yield Transaction(self._connection)
            finally:
                hold.active = False
                _holding.reset(token)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with self._exclusive() as tx:
            try:
                await tx.execute("BEGIN IMMEDIATE")
            except asyncio.CancelledError:
                # The driver's thread still opens the transaction: end it, or every later
                # one fails ("cannot start a transaction within a transaction").
                with suppress(sqlite3.OperationalError):
                    await asyncio.shield(self._connection.execute("ROLLBACK"))
                raise
            try:
                yield tx
            except BaseException:
                # Shielded so a second cancellation cannot leave the transaction open.
                await asyncio.shield(self._connection.execute("ROLLBACK"))
                raise
            await asyncio.shield(self._connection.execute("COMMIT"))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return next(iter(await self.fetch_all(sql, params)), None)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Rows of one statement; a ``SELECT`` goes to the reader, anything else (``UPDATE …
        RETURNING``) to the writing connection in its own transaction."""
        if self._reader is None or sql.lstrip()[:6].upper() != "SELECT":
            async with self._exclusive() as tx:
                return await tx.fetch_all(sql, params)
        self._refuse_inside_transaction()
        if self._closed:
            raise RuntimeError(f"the database {self._path} is closed")
        return list(await self._reader.execute_fetchall(sql, params))

    async def _open_reader(self, busy_timeout: float) -> None:
        if self._path == MEMORY:
            return
        reader = await aiosqlite.connect(self._path, isolation_level=None)
        reader.row_factory = sqlite3.Row
        await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        await reader.execute("PRAGMA query_only = ON")
        self._reader = reader

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the number of rows it changed."""
        async with self._exclusive() as tx:
            return await tx.execute(sql, params)

    async def schema_version(self) -> int:
        row = await self.fetch_one("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def close(self) -> None:
        """Wait for the statement in progress, then close the connection. Safe to call twice."""
        held = _holding.get()
        if held is not None and held.active and held.database is self:
            raise RuntimeError("the database cannot be closed inside its own transaction")
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reader is not None:
                await self._reader.close()
            await self._connection.close()


async def open_database(
    path: Path | str,
    *,
    busy_timeout: float = 5.0,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> Database:
    """Open (creating folders and file as needed) and migrate the database at ``path``.

    ``":memory:"`` gives a private in-memory database, handy in tests.
    """
    check_migrations(migrations)
    target = str(path)
    if target != MEMORY:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    connection = await aiosqlite.connect(target, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        await connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        await _enable_wal(connection, busy_timeout)
        await connection.execute("PRAGMA foreign_keys = ON")
        # WAL makes NORMAL durable across application crashes; only power loss can drop
        # the last commits.
        await connection.execute("PRAGMA synchronous = NORMAL")
        database = Database(connection, target)
        await _migrate(database, migrations)
        await database._open_reader(busy_timeout)
    except BaseException:
        await connection.close()
        raise
    return database


async def _enable_wal(connection: aiosqlite.Connection, busy_timeout: float) -> None:
    """Switch to WAL, waiting out another process that holds the file at that moment.

    SQLite answers SQLITE_BUSY to this pragma at once, without its busy handler, while another
    connection is setting up the same new file; so wait and ask again, within the busy timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + busy_timeout
    delay = 0.01
    while True:
        try:
            await connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


async def _migrate(database: Database, migrations: Sequence[Migration]) -> None:
    latest = migrations[-1].version if migrations else 0
    found = await database.schema_version()
    if found > latest:
        raise SchemaError(
            f"{database.path} has schema version {found}, newer than the {latest} "
            "this version of the bot knows; upgrade the bot instead of downgrading the database"
        )
    for migration in migrations:
        if migration.version <= found:
            continue
        try:
            async with database.transaction() as tx:
                # Re-read under the write lock: another process may have migrated meanwhile.
                row = await tx.fetch_one("PRAGMA user_version")
                assert row is not None
                if int(row[0]) >= migration.version:
                    continue
                for statement in migration.statements:
                    await tx.execute(statement)
                await tx.execute(f"PRAGMA user_version = {migration.version}")
        except sqlite3.Error as exc:
            raise SchemaError(
                f"migration {migration.version} ({migration.name}) of {database.path} failed "
                f"and was rolled back: {exc}"
            ) from exc
