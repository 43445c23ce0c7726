"""``loyalty-bot db copy``: move an install's tables from SQLite to PostgreSQL.

Both databases are first brought to the latest schema (opening them migrates), then every
table is copied in one transaction on the target, in the order the tables were created (so
a row's references arrive before it). Values are given the target column's type where SQLite
kept another (SQLite stores what it is given). Identity counters are moved past the copied
ids, so the next row the bot writes gets a new one. Afterwards the rows of each table are
counted on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.storage.database import Database
from bot.storage.postgres import PostgresDatabase

BATCH = 1000


class TargetNotEmpty(Exception):
    """The target already holds rows; copying over them needs ``replace``."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


def _convert(kind: str) -> Callable[[Any], Any]:
    if kind in ("int8", "int4", "int2"):
        return lambda value: value if value is None or isinstance(value, int) else int(value)
    if kind == "float8":
        return lambda value: value if value is None else float(value)
    if kind == "bytea":
        return lambda value: (
            value if value is None or isinstance(value, bytes) else str(value).encode()
        )
    return lambda value: value if value is None or isinstance(value, str) else str(value)


async def _count(database: Database, table: str) -> int:
    row = await database.fetch_one(f"SELECT count(*) FROM {table}")
    return int(row[0])


async def copy_tables(
    source: Database, target: PostgresDatabase, *, replace: bool = False
) -> list[TableCount]:
    """Copy every table of ``source`` into ``target``; returns the row counts of both."""
    source_tables = await source.tables()
    target_types = await target.column_types()
    missing = sorted(set(source_tables) - set(target_types))
    if missing:
        raise ValueError(f"the target has no table {', '.join(missing)}")
    filled = [table for table in target_types if await _count(target, table)]
    if filled and not replace:
        raise TargetNotEmpty(
            f"the target already has rows in {', '.join(filled)}; "
            "use --replace to delete them and copy anyway"
        )
    async with target.transaction() as tx:
        for table in reversed(list(target_types)):
            await tx.execute(f"DELETE FROM {table}")
        for table, columns in source_tables.items():
            kinds = target_types[table]
            names = [column for column in columns if column in kinds]
            converters = [_convert(kinds[column]) for column in names]
            rows = await source.fetch_all(f"SELECT {', '.join(names)} FROM {table}")
            marks = ", ".join("?" for _ in names)
            statement = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
            for start in range(0, len(rows), BATCH):
                batch: Sequence[Sequence[Any]] = [
                    [convert(row[i]) for i, convert in enumerate(converters)]
                    for row in rows[start : start + BATCH]
                ]
                await tx.execute_many(statement, batch)
        await target.advance_identities(tx)
    return [
        TableCount(table, await _count(source, table), await _count(target, table))
        for table in source_tables
    ]
