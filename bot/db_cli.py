"""``loyalty-bot db copy --to postgresql://…``: move an existing SQLite install to PostgreSQL.

Stop the bot first: the copy refuses to start while a bot process holds the SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.platforms import add_actions


def add_db_parser(commands: Any) -> None:
    actions = add_actions(commands, "db", help="the bot's own database")
    copy = actions.add_parser(
        "copy",
        help="copy every table from the SQLite file (DATABASE) to a PostgreSQL database",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user:pw@host/db")
    copy.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="the SQLite file (default: DATABASE)",
    )
    copy.add_argument(
        "--replace",
        action="store_true",
        help="delete the rows the target already has, then copy",
    )


def run_db_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.storage.database import is_postgres_url
    from bot.storage.ownership import SessionsTaken, claim_sessions

    source_path: Path = args.source or settings.database
    url: str = args.to
    if not is_postgres_url(url):
        print("--to must be a postgresql:// URL", file=sys.stderr)
        return 2
    if not source_path.exists():
        print(f"There is no SQLite database at {source_path} (DATABASE).", file=sys.stderr)
        return 1
    try:
        claim = claim_sessions(str(source_path))
    except SessionsTaken:
        print(
            f"A loyalty-bot process is running on {source_path}: stop it, then copy.",
            file=sys.stderr,
        )
        return 1
    try:
        return asyncio.run(_copy(source_path, url, replace=args.replace))
    finally:
        claim.release()


async def _copy(source_path: Path, url: str, *, replace: bool) -> int:
    from bot.storage.copying import TargetNotEmpty, copy_tables
    from bot.storage.database import open_database
    from bot.storage.opening import DatabaseUnusable, open_configured_database
    from bot.storage.postgres import PostgresDatabase, redact

    source = await open_database(source_path)
    try:
        target = await open_configured_database(url)
    except DatabaseUnusable as exc:
        await source.close()
        print(exc, file=sys.stderr)
        return 1
    try:
        assert isinstance(target, PostgresDatabase)
        counts = await copy_tables(source, target, replace=replace)
    except TargetNotEmpty as exc:
        print(f"Nothing copied: {exc}.", file=sys.stderr)
        return 1
    finally:
        await source.close()
        await target.close()
    width = max(len(count.table) for count in counts)
    print(f"{'table':<{width}}  {'SQLite':>8}  {'PostgreSQL':>10}")
    for count in counts:
        mark = "" if count.matches else "  MISMATCH"
        print(f"{count.table:<{width}}  {count.source:>8}  {count.target:>10}{mark}")
    if all(count.matches for count in counts):
        total = sum(count.source for count in counts)
        print(f"Copied {total} rows in {len(counts)} tables to {redact(url)}.")
        print(f"Set DATABASE_URL={redact(url)} (with its password) and start the bot.")
        return 0
    print("Row counts differ: do not switch to the copy.", file=sys.stderr)
    return 1
