"""The bot's own tables: one ``Database`` interface, two engines.

SQLite (a file path, the embedded default) keeps one long-lived aiosqlite connection per
process. Every statement runs under one ``asyncio.Lock``, so a coroutine's transaction never
interleaves with another coroutine's statements on the shared connection. Writes that span
several statements use ``BEGIN IMMEDIATE``, which takes SQLite's write lock up front; with
``busy_timeout`` this also keeps several processes on one file from losing each other's writes.

PostgreSQL (``postgresql://…``, ``bot.storage.postgres``) gives several hosts one database;
its transactions take one advisory lock, so they run one at a time as SQLite's do and every
repository keeps the same rules on both.

Statements are written once, with ``?`` placeholders, in the SQL both engines speak.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import aiosqlite

from bot.storage.migrations import MIGRATIONS, Migration, check_migrations
from bot.storage.timestamps import Clock, from_text, utc_now

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SQLValue = int | float | str | bytes | None
Params = Sequence[SQLValue]

MEMORY = ":memory:"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

Engine = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A result row: by column name or position (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Any: ...


R = TypeVar("R", bound="DataclassInstance")
T = TypeVar("T")


def from_row(record: type[R], row: Row, *, moments: tuple[str, ...] = (), **values: Any) -> R:
    """A ``record`` (a dataclass) from ``row``: each field from the column of its name,
    ``moments`` read as timestamps (``NULL`` stays ``None``), except the ``values`` given (a
    column that needs another reading, or has another name)."""
    columns = {f.name: row[f.name] for f in fields(record) if f.name not in values}
    for name in moments:
        if columns[name] is not None:
            columns[name] = from_text(columns[name])
    return record(**columns, **values)


def is_postgres_url(target: Path | str) -> bool:
    return str(target).startswith(POSTGRES_SCHEMES)


@dataclass(slots=True)
class _Hold:
    database: Database
    active: bool = True


# Seen by the holder and by tasks it starts, so waiting for the lock it holds fails loudly.
_holding: ContextVar[_Hold | None] = ContextVar("bot_storage_holding", default=None)


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to the version this code expects."""


class Transaction(Protocol):
    """Statements inside one open transaction; only valid inside ``Database.transaction()``."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Any: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Any]: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per row of parameters, in one step."""
        ...


class Database:
    """What the repositories use, whichever engine is behind it.

    ``transaction()`` is one write transaction, committed when the block ends and rolled back
    if it raises; write transactions run one at a time. Statements outside a transaction run
    on their own (a single statement is atomic on both engines).
    """

    engine: Engine

    @property
    def path(self) -> str:
        """Where the data is, safe to show (a PostgreSQL URL without its password)."""
        raise NotImplementedError

    @property
    def file(self) -> Path | None:
        """The SQLite file, or where this host would keep one (PostgreSQL), or ``None`` (in
        memory): files of this host kept beside it (the sent journal) go only where there is
        one."""
        return None

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    @property
    def skip_locked(self) -> str:
        """``FOR UPDATE SKIP LOCKED`` where the engine has it: replicas that claim due rows
        at once each take different rows instead of queueing behind each other."""
        return " FOR UPDATE SKIP LOCKED" if self.engine == "postgresql" else ""

    def _refuse_inside_transaction(self) -> None:
        held = _holding.get()
        if held is not None and held.active and held.database is self:
            raise RuntimeError(
                "the database is already in use by this flow of work: "
                "run the statement on the open Transaction instead of the Database"
            )

    @asynccontextmanager
    async def _holding_transaction(self) -> AsyncIterator[None]:
        self._refuse_inside_transaction()
        hold = _Hold(self)
        token = _holding.set(hold)
        try:
            yield
        finally:
            hold.active = False
            _holding.reset(token)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        raise NotImplementedError

    async def fetch_one(self, sql: str, params: Params = ()) -> Any:
        return next(iter(await self.fetch_all(sql, params)), None)

    async def look_up(self, sql: str, params: Params = ()) -> Any:
        """The row a ``SELECT`` finds by a primary or unique key (or ``None``): for reads that
        take microseconds, such as the ones every update makes. Same answer as ``fetch_one``."""
        return await self.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Any]:
        raise NotImplementedError

    async def fetch_one_as(
        self, read: Callable[[Any], T], sql: str, params: Params = ()
    ) -> T | None:
        """The statement's first row as ``read`` makes it; ``None`` if there is none."""
        row = await self.fetch_one(sql, params)
        return None if row is None else read(row)

    async def fetch_all_as(
        self, read: Callable[[Any], T], sql: str, params: Params = ()
    ) -> list[T]:
        """The statement's rows as ``read`` makes them."""
        return [read(row) for row in await self.fetch_all(sql, params)]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the number of rows it changed."""
        raise NotImplementedError

    async def schema_version(self) -> int:
        raise NotImplementedError

    async def tables(self) -> dict[str, list[str]]:
        """The bot's tables and their columns, in creation order."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Repository:
    """A store of some of the bot's tables: the database, and the clock that stamps its
    writes."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock


class SQLiteTransaction:
    """Statements inside one open SQLite transaction."""

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


class SQLiteDatabase(Database):
    """The shared connection. Use ``open_database`` to get one, ``close`` to end it.

    Writes and transactions take turns on the writing connection. Single reads outside a
    transaction go to a second, read-only connection and wait for no lock: WAL lets them read
    the last commit while a transaction is open, so a user's read never queues behind other
    users' writes. (An in-memory database has one connection, so it has no reader.)
    """

    engine: Engine = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, path: str) -> None:
        self._connection = connection
        self._reader: aiosqlite.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        """Key lookups on the event loop's own thread (``look_up``)."""
        self._path = path
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def file(self) -> Path | None:
        return None if self._path == MEMORY else Path(self._path)

    @property
    def closed(self) -> bool:
        return self._closed

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[SQLiteTransaction]:
        self._refuse_inside_transaction()
        async with self._lock:
            if self._closed:
                raise RuntimeError(f"the database {self._path} is closed")
            async with self._holding_transaction():
                yield SQLiteTransaction(self._connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteTransaction]:
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

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Rows of one statement; a ``SELECT`` goes to the reader, anything else (``UPDATE …
        RETURNING``) to the writing connection in its own transaction."""
        if self._reader is None or sql.lstrip()[:6].upper() != "SELECT":
            async with self._exclusive() as tx:
                return await tx.fetch_all(sql, params)
        self._check_open_outside_transaction()
        return list(await self._reader.execute_fetchall(sql, params))

    def _check_open_outside_transaction(self) -> None:
        """What a read outside the writing connection needs: no transaction of this flow of
        work open (its writes would not be seen) and the database not closed."""
        self._refuse_inside_transaction()
        if self._closed:
            raise RuntimeError(f"the database {self._path} is closed")

    async def look_up(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """A key lookup read right here, on the event loop's thread: it takes about 9 µs, where
        a hop to the driver's thread and back costs 70–100 µs of CPU (``bench/README.md``).
        The read never waits: WAL lets it read the last commit while others write, and if the
        file is busy all the same (a checkpoint resetting the log) it goes to the reader."""
        if self._inline is not None:
            self._check_open_outside_transaction()
            try:
                # fetchall steps the statement to its end: no read transaction stays open.
                rows: list[sqlite3.Row] = self._inline.execute(sql, params).fetchall()
                return next(iter(rows), None)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
        return next(iter(await self.fetch_all(sql, params)), None)

    async def _open_reader(self, busy_timeout: float) -> None:
        if self._path == MEMORY:
            return
        reader = await aiosqlite.connect(self._path, isolation_level=None)
        reader.row_factory = sqlite3.Row
        await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        await reader.execute("PRAGMA query_only = ON")
        self._reader = reader
        # Used only from the loop that owns the database, one statement at a time.
        inline = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        inline.row_factory = sqlite3.Row
        inline.execute("PRAGMA busy_timeout = 0")
        inline.execute("PRAGMA query_only = ON")
        self._inline = inline

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the number of rows it changed."""
        async with self._exclusive() as tx:
            return await tx.execute(sql, params)

    async def schema_version(self) -> int:
        row = await self.fetch_one("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def tables(self) -> dict[str, list[str]]:
        names = await self.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"
        )
        return {
            row["name"]: [
                column["name"]
                for column in await self.fetch_all(f"PRAGMA table_info({row['name']})")
            ]
            for row in names
        }

    async def close(self) -> None:
        """Wait for the statement in progress, then close the connection. Safe to call twice."""
        held = _holding.get()
        if held is not None and held.active and held.database is self:
            raise RuntimeError("the database cannot be closed inside its own transaction")
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._inline is not None:
                self._inline.close()
            if self._reader is not None:
                await self._reader.close()
            await self._connection.close()


async def open_database(
    target: Path | str,
    *,
    busy_timeout: float = 5.0,
    migrations: Sequence[Migration] = MIGRATIONS,
    local_file: Path | None = None,
) -> Database:
    """Open and migrate the database at ``target``: a ``postgresql://`` URL, or a SQLite file
    path (folders and file created as needed).

    ``":memory:"`` gives a private in-memory SQLite database, handy in tests. ``local_file``
    (PostgreSQL only): where this host keeps the files a SQLite install keeps beside its
    database file (``Database.file``).
    """
    check_migrations(migrations)
    if is_postgres_url(target):
        from bot.storage.postgres import open_postgres

        return await open_postgres(str(target), migrations=migrations, local_file=local_file)
    return await _open_sqlite(str(target), busy_timeout, migrations)


async def _open_sqlite(
    target: str, busy_timeout: float, migrations: Sequence[Migration]
) -> SQLiteDatabase:
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
        database = SQLiteDatabase(connection, target)
        await migrate(database, migrations, SQLITE_SCHEMA)
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


@dataclass(frozen=True, slots=True)
class SchemaWords:
    """How an engine keeps its schema version and words a migration's statements."""

    read_version: str
    write_version: Callable[[int], tuple[str, Params]]
    statement: Callable[[str], str]
    errors: tuple[type[BaseException], ...]


SQLITE_SCHEMA = SchemaWords(
    read_version="PRAGMA user_version",
    write_version=lambda version: (f"PRAGMA user_version = {version}", ()),
    statement=lambda text: text,
    errors=(sqlite3.Error,),
)


async def migrate(database: Database, migrations: Sequence[Migration], words: SchemaWords) -> None:
    """Apply the migrations ``database`` lacks, each in one transaction (all or nothing)."""
    latest = migrations[-1].version if migrations else 0
    found = await database.schema_version()
    if found > latest:
        raise newer_schema(database.path, found, latest)
    for migration in migrations:
        if migration.version <= found:
            continue
        try:
            async with database.transaction() as tx:
                # Re-read under the write lock: another process may have migrated meanwhile.
                row = await tx.fetch_one(words.read_version)
                if int(row[0]) >= migration.version:
                    continue
                for statement in migration.statements:
                    await tx.execute(words.statement(statement))
                await tx.execute(*words.write_version(migration.version))
        except words.errors as exc:
            raise failed_migration(database.path, migration, exc) from exc


def newer_schema(path: str, found: int, latest: int) -> SchemaError:
    return SchemaError(
        f"{path} has schema version {found}, newer than the {latest} "
        "this version of the bot knows; upgrade the bot instead of downgrading the database"
    )


def failed_migration(path: str, migration: Migration, exc: BaseException) -> SchemaError:
    return SchemaError(
        f"migration {migration.version} ({migration.name}) of {path} failed "
        f"and was rolled back: {exc}"
    )
