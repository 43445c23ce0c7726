"""asyncpg or psycopg 3 for ``DATABASE_URL=postgresql://…``: the bot's kinds of statement, timed.

Starts a throw-away PostgreSQL (Debian's package, as the tests do), then runs the same work
through each driver's pool with 20 concurrent tasks, the shapes the repositories use:
a read by key, an upsert, and a write transaction under the advisory lock the bot's
transactions take. Prints operations per second and psycopg's ratio to asyncpg.

    python bench/postgres_driver.py [--ops 4000] [--tasks 20]

Needs ``pip install "psycopg[binary,pool]"`` for the comparison (not a dependency of the bot).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from tests.postgres_server import postgres_server

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS member_links (telegram_user_id BIGINT PRIMARY KEY, "
    "member_code TEXT NOT NULL UNIQUE, card_number TEXT NOT NULL DEFAULT '', "
    "linked_at TEXT NOT NULL)"
)
LOCK = 0x6C6F79616C7479
Op = Callable[[int], Awaitable[object]]


async def _timed(ops: int, tasks: int, op: Op) -> float:
    """Operations per second for ``ops`` calls of ``op`` spread over ``tasks`` tasks."""
    counter = iter(range(ops))

    async def worker() -> None:
        for i in counter:
            await op(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return ops / (time.perf_counter() - started)


async def with_asyncpg(url: str, ops: int, tasks: int) -> dict[str, float]:
    pool = await asyncpg.create_pool(url, min_size=tasks, max_size=tasks)
    try:
        await pool.execute(SCHEMA)
        await pool.execute("TRUNCATE member_links")

        async def upsert(i: int) -> object:
            return await pool.execute(
                "INSERT INTO member_links (telegram_user_id, member_code, linked_at) "
                "VALUES ($1, $2, $3) ON CONFLICT (telegram_user_id) DO UPDATE SET "
                "linked_at = excluded.linked_at",
                i % 1000,
                f"M-{i % 1000}",
                "2026-12-02T00:00:00Z",
            )

        async def read(i: int) -> object:
            return await pool.fetchrow(
                "SELECT * FROM member_links WHERE telegram_user_id = $1", i % 1000
            )

        async def transaction(i: int) -> object:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
                row = await connection.fetchrow(
                    "SELECT linked_at FROM member_links WHERE telegram_user_id = $1", i % 1000
                )
                return await connection.execute(
                    "UPDATE member_links SET card_number = $1 WHERE telegram_user_id = $2",
                    str(row is not None),
                    i % 1000,
                )

        return {
            "upsert": await _timed(ops, tasks, upsert),
            "read by key": await _timed(ops, tasks, read),
            "locked transaction": await _timed(ops, tasks, transaction),
        }
    finally:
        await pool.close()


async def with_psycopg(url: str, ops: int, tasks: int) -> dict[str, float] | None:
    try:
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        return None
    pool = AsyncConnectionPool(url, min_size=tasks, max_size=tasks, open=False)
    await pool.open()
    try:
        async with pool.connection() as connection:
            await connection.execute("TRUNCATE member_links")

        async def upsert(i: int) -> object:
            async with pool.connection() as connection:
                return await connection.execute(
                    "INSERT INTO member_links (telegram_user_id, member_code, linked_at) "
                    "VALUES (%s, %s, %s) ON CONFLICT (telegram_user_id) DO UPDATE SET "
                    "linked_at = excluded.linked_at",
                    (i % 1000, f"M-{i % 1000}", "2026-12-02T00:00:00Z"),
                )

        async def read(i: int) -> object:
            async with pool.connection() as connection:
                cursor = await connection.execute(
                    "SELECT * FROM member_links WHERE telegram_user_id = %s", (i % 1000,)
                )
                return await cursor.fetchone()

        async def transaction(i: int) -> object:
            async with pool.connection() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
                cursor = await connection.execute(
                    "SELECT linked_at FROM member_links WHERE telegram_user_id = %s",
                    (i % 1000,),
                )
                row = await cursor.fetchone()
                return await connection.execute(
                    "UPDATE member_links SET card_number = %s WHERE telegram_user_id = %s",
                    (str(row is not None), i % 1000),
                )

        return {
            "upsert": await _timed(ops, tasks, upsert),
            "read by key": await _timed(ops, tasks, read),
            "locked transaction": await _timed(ops, tasks, transaction),
        }
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=4000)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    with postgres_server() as server:
        url = server.create_database()
        first = await with_asyncpg(url, args.ops, args.tasks)
        second = await with_psycopg(url, args.ops, args.tasks)
    print(f"{'statement':<20} {'asyncpg ops/s':>14} {'psycopg ops/s':>14} {'psycopg/asyncpg':>16}")
    for name, rate in first.items():
        if second is None:
            print(f"{name:<20} {rate:>14.0f} {'(not installed)':>14}")
        else:
            print(f"{name:<20} {rate:>14.0f} {second[name]:>14.0f} {second[name] / rate:>15.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
