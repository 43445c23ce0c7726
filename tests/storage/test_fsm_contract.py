"""One contract for every FSM storage the bot can run on, plus what only SQLite promises.

A backend is an async context manager factory in ``BACKENDS``: aiogram's ``MemoryStorage``,
the bot's ``SQLiteStorage``, and aiogram's ``RedisStorage`` with the bot's key builder on a
``redis-server`` started on a free loopback port (the storage of several replicas).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, StorageKey

from bot.storage import open_database
from bot.storage.fsm import SQLiteStorage
from tests.storage.backends import BACKENDS

# Backends that persist through JSON and so must refuse what JSON would lose or change.
JSON_BACKENDS = {"sqlite"}


@pytest.fixture(params=sorted(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def storage(backend_name: str, tmp_path: Path) -> AsyncIterator[BaseStorage]:
    async with BACKENDS[backend_name](tmp_path) as opened:
        yield opened


KEY = StorageKey(bot_id=42, chat_id=-1001, user_id=7)


class Enrollment(StatesGroup):
    phone = State()
    email_code = State()


async def test_state_round_trip(storage: BaseStorage) -> None:
    assert await storage.get_state(KEY) is None
    await storage.set_state(KEY, "Enrollment:phone")
    assert await storage.get_state(KEY) == "Enrollment:phone"
    await storage.set_state(KEY, "Enrollment:email_code")
    assert await storage.get_state(KEY) == "Enrollment:email_code"
    await storage.set_state(KEY, None)
    assert await storage.get_state(KEY) is None


async def test_state_objects_are_stored_by_name(storage: BaseStorage) -> None:
    await storage.set_state(KEY, Enrollment.email_code)
    raw = await storage.get_state(KEY)
    assert raw == "Enrollment:email_code"
    assert Enrollment.email_code == raw


async def test_data_round_trip(storage: BaseStorage) -> None:
    data: dict[str, Any] = {
        "email": "anna@example.com",
        "first_name": "Анна 🎉",
        "tries": 2,
        "amount": "14.95",
        "ratio": 0.5,
        "confirmed": False,
        "birthday": None,
        "campaigns": ["345", "354"],
        "profile": {"phone": "+15551234567", "tags": []},
    }
    assert await storage.get_data(KEY) == {}
    await storage.set_data(KEY, data)
    assert await storage.get_data(KEY) == data
    await storage.set_data(KEY, {"email": "other@example.com"})
    assert await storage.get_data(KEY) == {"email": "other@example.com"}


async def test_get_value(storage: BaseStorage) -> None:
    await storage.set_data(KEY, {"email": "anna@example.com"})
    assert await storage.get_value(KEY, "email") == "anna@example.com"
    assert await storage.get_value(KEY, "phone") is None
    assert await storage.get_value(KEY, "phone", "none given") == "none given"


async def test_update_data_merges_like_dict_update(storage: BaseStorage) -> None:
    assert await storage.update_data(KEY, {"foo": "bar"}) == {"foo": "bar"}
    assert await storage.update_data(KEY, {}) == {"foo": "bar"}
    assert await storage.update_data(KEY, {"baz": "spam"}) == {"foo": "bar", "baz": "spam"}
    assert await storage.update_data(KEY, {"baz": "test"}) == {"foo": "bar", "baz": "test"}
    assert await storage.get_data(KEY) == {"foo": "bar", "baz": "test"}


async def test_returned_data_is_a_copy(storage: BaseStorage) -> None:
    await storage.set_data(KEY, {"items": ["a"]})
    read = await storage.get_data(KEY)
    read["items"] = ["changed"]
    read["new"] = 1
    merged = await storage.update_data(KEY, {"more": True})
    merged["more"] = False
    assert await storage.get_data(KEY) == {"items": ["a"], "more": True}


async def test_clearing_state_keeps_data_and_clearing_data_keeps_state(
    storage: BaseStorage,
) -> None:
    await storage.set_state(KEY, Enrollment.phone)
    await storage.set_data(KEY, {"email": "anna@example.com"})

    await storage.set_state(KEY, None)
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {"email": "anna@example.com"}

    await storage.set_state(KEY, Enrollment.phone)
    await storage.set_data(KEY, {})
    assert await storage.get_data(KEY) == {}
    assert await storage.get_state(KEY) == "Enrollment:phone"

    await storage.set_state(KEY, None)
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}


KEY_VARIANTS = {
    "base": KEY,
    "other bot": StorageKey(bot_id=43, chat_id=-1001, user_id=7),
    "other chat": StorageKey(bot_id=42, chat_id=-1002, user_id=7),
    "other user": StorageKey(bot_id=42, chat_id=-1001, user_id=8),
    "private chat": StorageKey(bot_id=42, chat_id=7, user_id=7),
    "chat and user swapped": StorageKey(bot_id=42, chat_id=8, user_id=7),
    "user and chat swapped": StorageKey(bot_id=42, chat_id=7, user_id=8),
    "thread 5": StorageKey(bot_id=42, chat_id=-1001, user_id=7, thread_id=5),
    "thread 6": StorageKey(bot_id=42, chat_id=-1001, user_id=7, thread_id=6),
    "business A": StorageKey(bot_id=42, chat_id=-1001, user_id=7, business_connection_id="A"),
    "business B": StorageKey(bot_id=42, chat_id=-1001, user_id=7, business_connection_id="B"),
    "destiny": StorageKey(bot_id=42, chat_id=-1001, user_id=7, destiny="kiosk"),
    # A colon-joined key would read both of these as "5:1:2".
    "numeric business id": StorageKey(bot_id=42, chat_id=1, user_id=2, business_connection_id="5"),
    "chat 5 thread 1": StorageKey(bot_id=42, chat_id=5, user_id=2, thread_id=1),
}


async def test_keys_differing_in_any_part_never_collide(storage: BaseStorage) -> None:
    for name, key in KEY_VARIANTS.items():
        await storage.set_state(key, f"state of {name}")
        await storage.set_data(key, {"owner": name})
    for name, key in KEY_VARIANTS.items():
        assert await storage.get_state(key) == f"state of {name}", name
        assert await storage.get_data(key) == {"owner": name}, name

    await storage.update_data(KEY, {"owner": "changed"})
    await storage.set_state(KEY, None)
    for name, key in KEY_VARIANTS.items():
        if name != "base":
            assert await storage.get_state(key) == f"state of {name}", name
            assert await storage.get_data(key) == {"owner": name}, name


async def test_non_dict_data_is_refused(storage: BaseStorage) -> None:
    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(KEY, [("email", "anna@example.com")])  # type: ignore[arg-type]
    assert await storage.get_data(KEY) == {}


NOT_JSON: dict[str, dict[str, Any]] = {
    "datetime": {"sent_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
    "decimal": {"amount": Decimal("14.95")},
    "set": {"campaigns": {"345"}},
    "bytes": {"card": b"\x89PNG"},
    "object": {"state": Enrollment.phone},
    "tuple": {"campaigns": ("345", "354")},
    "int key": {"by_campaign": {345: "points"}},
    "nan": {"ratio": math.nan},
}


@pytest.mark.parametrize("value", NOT_JSON.values(), ids=NOT_JSON.keys())
async def test_data_json_would_change_is_refused_when_written(
    storage: BaseStorage, backend_name: str, value: dict[str, Any]
) -> None:
    if backend_name not in JSON_BACKENDS:
        pytest.skip(f"{backend_name} makes no such promise")
    await storage.set_data(KEY, {"email": "anna@example.com"})
    with pytest.raises(TypeError, match="JSON"):
        await storage.set_data(KEY, value)
    with pytest.raises(TypeError, match="JSON"):
        await storage.update_data(KEY, value)
    assert await storage.get_data(KEY) == {"email": "anna@example.com"}


async def test_fsm_context_drives_a_flow(storage: BaseStorage) -> None:
    context = FSMContext(storage=storage, key=KEY)
    await context.set_state(Enrollment.phone)
    await context.update_data(phone="+15551234567")
    await context.set_state(Enrollment.email_code)
    await context.update_data(email="anna@example.com")

    assert await context.get_state() == Enrollment.email_code.state
    assert await context.get_data() == {"phone": "+15551234567", "email": "anna@example.com"}

    await context.clear()
    assert await context.get_state() is None
    assert await context.get_data() == {}


async def test_sqlite_flow_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "fsm.db"
    before = SQLiteStorage(await open_database(path), owns_database=True)
    await before.set_state(KEY, Enrollment.email_code)
    await before.set_data(KEY, {"email": "anna@example.com", "tries": 1})
    await before.set_state(KEY_VARIANTS["thread 5"], Enrollment.phone)
    await before.close()

    after = SQLiteStorage(await open_database(path), owns_database=True)
    try:
        assert await after.get_state(KEY) == "Enrollment:email_code"
        assert await after.get_data(KEY) == {"email": "anna@example.com", "tries": 1}
        assert await after.get_state(KEY_VARIANTS["thread 5"]) == "Enrollment:phone"
        assert await after.get_state(KEY_VARIANTS["thread 6"]) is None
    finally:
        await after.close()


async def test_sqlite_concurrent_update_data_loses_nothing(tmp_path: Path) -> None:
    storage = SQLiteStorage(await open_database(tmp_path / "fsm.db"), owns_database=True)
    try:
        results = await asyncio.gather(
            *(storage.update_data(KEY, {f"answer {n}": n}) for n in range(200))
        )
        expected = {f"answer {n}": n for n in range(200)}
        assert await storage.get_data(KEY) == expected
        assert max(len(result) for result in results) == 200
    finally:
        await storage.close()


async def test_sqlite_storages_on_one_database_share_their_sessions(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "fsm.db")
    first, second = SQLiteStorage(database), SQLiteStorage(database)
    try:
        await asyncio.gather(
            *(
                (first if n % 2 else second).update_data(KEY, {f"answer {n}": n})
                for n in range(100)
            )
        )
        expected = {f"answer {n}": n for n in range(100)}
        assert await first.get_data(KEY) == expected
        assert await second.get_data(KEY) == expected
    finally:
        await database.close()
    reopened = SQLiteStorage(await open_database(tmp_path / "fsm.db"), owns_database=True)
    try:
        assert await reopened.get_data(KEY) == expected
    finally:
        await reopened.close()


async def test_sqlite_writes_of_many_users_share_commits(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "fsm.db")
    storage = SQLiteStorage(database)
    commits = 0
    real_transaction = database.transaction

    def counted() -> Any:
        nonlocal commits
        commits += 1
        return real_transaction()

    database.transaction = counted  # type: ignore[method-assign]
    try:
        keys = [StorageKey(bot_id=42, chat_id=n, user_id=n) for n in range(1, 101)]
        # Sessions not yet in memory: each write waits for its own read of the row first, so
        # how the writes fall into commits depends on the machine's pace (3 to 17 seen), but
        # they share commits.
        await asyncio.gather(*(storage.set_state(key, Enrollment.phone) for key in keys))
        assert commits <= 50, f"100 users' writes took {commits} commits"
        # Sessions in memory: writes made at the same moment go in one commit.
        before = commits
        await asyncio.gather(*(storage.set_state(key, Enrollment.email_code) for key in keys))
        assert commits - before == 1, f"100 users' writes took {commits - before} commits"
        await asyncio.gather(*(storage.set_state(key, Enrollment.phone) for key in keys))
        # Clearing what is not there writes nothing.
        before = commits
        await FSMContext(
            storage=storage, key=StorageKey(bot_id=42, chat_id=999, user_id=999)
        ).clear()
        assert commits == before
    finally:
        database.transaction = real_transaction  # type: ignore[method-assign]
        await database.close()
    reopened = SQLiteStorage(await open_database(tmp_path / "fsm.db"), owns_database=True)
    try:
        assert [await reopened.get_state(key) for key in keys] == ["Enrollment:phone"] * 100
    finally:
        await reopened.close()


async def test_sqlite_storage_leaves_a_shared_database_open(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "fsm.db")
    storage = SQLiteStorage(database)
    await storage.set_state(KEY, Enrollment.phone)
    await storage.close()
    try:
        assert not database.closed
        assert await SQLiteStorage(database).get_state(KEY) == "Enrollment:phone"
    finally:
        await database.close()


async def test_sqlite_cleared_keys_leave_no_rows(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "fsm.db")
    storage = SQLiteStorage(database)
    try:
        for key in KEY_VARIANTS.values():
            await storage.set_state(key, Enrollment.phone)
            await storage.update_data(key, {"email": "anna@example.com"})
            await FSMContext(storage=storage, key=key).clear()
        row = await database.fetch_one("SELECT count(*) FROM fsm_records")
        assert row is not None
        assert row[0] == 0
    finally:
        await database.close()


async def test_sqlite_writes_cut_off_by_a_stop_fail_loudly_and_leave_the_truth(
    tmp_path: Path,
) -> None:
    database = await open_database(tmp_path / "fsm.db")
    storage = SQLiteStorage(database)
    try:
        keys = [StorageKey(bot_id=42, chat_id=n, user_id=n) for n in range(1, 21)]
        writes = [asyncio.ensure_future(storage.set_state(key, Enrollment.phone)) for key in keys]
        for _ in range(1000):  # until the first write has started the writer
            if storage._sessions._writer is not None:
                break
            await asyncio.sleep(0)
        assert storage._sessions._writer is not None
        storage._sessions._writer.cancel()
        outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 10)
        failed = [key for key, out in zip(keys, outcomes, strict=True) if out is not None]
        assert all(isinstance(out, (RuntimeError, type(None))) for out in outcomes)
        assert failed, "the stop came before the commit"
        # What failed is not served from memory as if it were stored; the next write works.
        for key in failed:
            assert await storage.get_state(key) is None
        await storage.set_state(keys[0], Enrollment.email_code)
        assert await storage.get_state(keys[0]) == "Enrollment:email_code"
    finally:
        await database.close()
