"""Opening the configured database at start, with a sentence instead of a traceback when the
disk refuses: read-only, full, or a folder that cannot be created."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

from bot.storage.database import Database, SchemaError, is_postgres_url, open_database

_DISK_WORDS = re.compile(r"full|readonly|read-only|unable to open|disk I/O", re.IGNORECASE)


class DatabaseUnusable(Exception):
    """The database file cannot be opened or written; the text names ``DATABASE``."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno == errno.ENOSPC:
            return "the disk is full"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"it cannot be written there ({os.strerror(exc.errno)})"
        return os.strerror(exc.errno)
    text = str(exc)
    if "full" in text:
        return "the disk is full"
    if "readonly" in text or "read-only" in text:
        return "the file or its folder is read-only"
    if "disk I/O" in text:
        return "the disk refused a write (full, over a size limit, or failing)"
    if "unable to open" in text:
        return "the file cannot be created or opened there"
    return text


def describe_unusable(path: Path | str, exc: BaseException) -> str:
    """One sentence naming ``DATABASE`` for a database (or a file kept next to it) the disk
    refused."""
    return (
        f"Cannot use the database (DATABASE={path}): {_reason(exc)}. Free some disk space or "
        "make the folder writable, or point DATABASE at another place."
    )


def _unusable(path: Path | str, exc: BaseException) -> DatabaseUnusable:
    return DatabaseUnusable(describe_unusable(path, exc))


def describe_unreachable(url: str, exc: BaseException) -> str:
    """One sentence naming ``DATABASE_URL`` for a PostgreSQL server that cannot be used."""
    from bot.storage.postgres import redact

    reason = str(exc).strip() or type(exc).__name__
    return (
        f"Cannot use the database (DATABASE_URL={redact(url)}): {reason}. Check that the "
        "server is running and reachable, and the user, password and database name."
    )


async def open_configured_database(
    path: Path | str, *, local_file: Path | None = None
) -> Database:
    """``open_database``, raising ``DatabaseUnusable`` when the disk refuses or the
    PostgreSQL server cannot be used."""
    if is_postgres_url(path):
        import asyncpg

        try:
            return await open_database(path, local_file=local_file)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise DatabaseUnusable(describe_unreachable(str(path), exc)) from exc
    try:
        return await open_database(path)
    except (sqlite3.Error, OSError) as exc:
        raise _unusable(path, exc) from exc
    except SchemaError as exc:
        # A migration that failed for lack of space or a read-only file: the same sentence.
        cause = exc.__cause__
        if isinstance(cause, sqlite3.OperationalError) and _DISK_WORDS.search(str(cause)):
            raise _unusable(path, cause) from exc
        raise
