from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Database, open_database


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "loyalty-bot.db"


@pytest.fixture
async def database(database_target: str, db_path: Path) -> AsyncIterator[Database]:
    """The bot's tables, once on SQLite and once on PostgreSQL."""
    db = await open_database(database_target, local_file=db_path)
    try:
        yield db
    finally:
        await db.close()
