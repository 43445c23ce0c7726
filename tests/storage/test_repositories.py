from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.storage import (
    CardImages,
    Database,
    EmailCodes,
    JoinConflict,
    LinkConflict,
    MemberLinks,
    PendingJoins,
    SchemaError,
    open_database,
)
from bot.storage.bonuses import BonusState, OwedBonuses
from bot.storage.fsm import SQLiteStorage
from bot.storage.links import LinkOutcome, LinkRepository, NewLink
from bot.storage.migrations import MIGRATIONS, Migration
from bot.storage.notifications import NotificationSettings
from bot.storage.outbox import OutboxRepository
from bot.storage.referrals import InviteOutcome, ReferralRepository
from tests.storage.conftest import FakeClock

ANNA, BORIS = 1001, 1002
BOT, OTHER_BOT = 42, 43
PNG = b"\x89PNG\r\n\x1a\n card 4000123412341234"

LATEST = MIGRATIONS[-1].version
"""The schema version a new or migrated database ends at."""


async def test_link_is_found_from_both_sides(database: Database, clock: FakeClock) -> None:
    links = MemberLinks(database, clock=clock)
    assert await links.get(ANNA) is None

    link = await links.link(ANNA, "M-1", card_number="4000123412341234", first_name="Anna")

    assert await links.get(ANNA) == link
    assert await links.get_by_member("M-1") == link
    assert await links.get_by_member("M-2") is None
    assert link.card_number == "4000123412341234"
    assert link.linked_at == clock.now
    assert link.linked_at.utcoffset() == dt.timedelta(0)


async def test_one_account_one_member(database: Database) -> None:
    links = MemberLinks(database)
    anna = await links.link(ANNA, "M-1", first_name="Anna")

    with pytest.raises(LinkConflict, match="another member") as to_other_member:
        await links.link(ANNA, "M-2")
    assert to_other_member.value.existing == anna

    with pytest.raises(LinkConflict, match="another Telegram user") as by_other_user:
        await links.link(BORIS, "M-1")
    assert by_other_user.value.existing == anna

    assert await links.get(ANNA) == anna
    assert await links.get(BORIS) is None
    assert await links.get_by_member("M-2") is None


async def test_the_same_member_claimed_at_once_by_two_accounts_goes_to_one(
    database: Database,
) -> None:
    links = MemberLinks(database)
    outcomes = await asyncio.gather(
        links.link(ANNA, "M-1"), links.link(BORIS, "M-1"), return_exceptions=True
    )
    assert sum(isinstance(outcome, LinkConflict) for outcome in outcomes) == 1
    winner = await links.get_by_member("M-1")
    assert winner is not None
    assert winner.telegram_user_id in (ANNA, BORIS)


async def test_relinking_the_same_pair_refreshes_details_and_keeps_link_time(
    database: Database, clock: FakeClock
) -> None:
    links = MemberLinks(database, clock=clock)
    first = await links.link(ANNA, "M-1", card_number="1111", first_name="Ann")
    clock.advance(days=3)

    again = await links.link(ANNA, "M-1", card_number="2222", first_name="Anna")

    assert again.linked_at == first.linked_at
    assert (again.card_number, again.first_name) == ("2222", "Anna")
    assert await links.get(ANNA) == again


async def test_update_changes_only_given_fields(database: Database) -> None:
    links = MemberLinks(database)
    await links.link(ANNA, "M-1", card_number="1111", first_name="Ann")

    updated = await links.update(ANNA, first_name="Anna")

    assert updated is not None
    assert (updated.card_number, updated.first_name) == ("1111", "Anna")
    assert await links.update(BORIS, first_name="Boris") is None


async def test_unlink_frees_the_member_and_keeps_the_language(database: Database) -> None:
    links = MemberLinks(database)
    await links.link(ANNA, "M-1")
    await links.set_language(ANNA, "es")

    assert await links.unlink(ANNA) is True
    assert await links.unlink(ANNA) is False
    assert await links.get(ANNA) is None
    assert await links.get_language(ANNA) == "es"
    assert (await links.link(BORIS, "M-1")).telegram_user_id == BORIS


async def test_language_is_kept_for_visitors_who_have_not_joined(database: Database) -> None:
    links = MemberLinks(database)
    assert await links.get_language(ANNA) is None
    await links.set_language(ANNA, "ru")
    await links.set_language(ANNA, "es")
    await links.set_language(BORIS, "en")
    assert await links.get_language(ANNA) == "es"
    assert await links.get_language(BORIS) == "en"
    assert await links.get(ANNA) is None


async def _remember_everything_about(
    database: Database, user_id: int, member_code: str, card_number: str
) -> None:
    await MemberLinks(database).link(user_id, member_code, card_number=card_number)
    await MemberLinks(database).set_language(user_id, "es")
    await NotificationSettings(database).turn(user_id, broadcasts=False)
    await OutboxRepository(database).put(
        f"join-card:{user_id}", user_id, "card", {"card_number": card_number}
    )
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    await EmailCodes(database).start(user_id, f"{user_id}@example.com", "hash", expires)
    await PendingJoins(database).put(user_id, f"{member_code}-next", json.dumps({"id": user_id}))
    cards = CardImages(database)
    for bot_id in (BOT, OTHER_BOT):
        await cards.remember_file_id(bot_id, card_number, f"file-{user_id}-{bot_id}")
        await cards.put_png(bot_id, card_number, PNG)
        await cards.remember_file_id(bot_id, card_number, f"file-{user_id}-{bot_id}")
    fsm = SQLiteStorage(database)
    for key in (
        StorageKey(bot_id=BOT, chat_id=user_id, user_id=user_id),
        StorageKey(bot_id=OTHER_BOT, chat_id=user_id, user_id=user_id, destiny="kiosk"),
        StorageKey(bot_id=BOT, chat_id=-100500, user_id=user_id, thread_id=3),
    ):
        await fsm.set_state(key, "Enrollment:phone")
        await fsm.set_data(key, {"email": f"{user_id}@example.com"})
    # A join through a signup link in progress, and another link opened since.
    signup_links = LinkRepository(database)
    for token in (f"first-{user_id}", f"second-{user_id}"):
        opened = await signup_links.add(NewLink(token=token, campaign_id=None, source="poster"))
        await signup_links.record_attempt(
            LinkOutcome.VALID, telegram_user_id=user_id, link_id=opened.id, visit=True
        )
        if token.startswith("first"):
            await signup_links.claim(user_id, f"{member_code}-planned")
    # A join through a friend's invite in progress, and another invite opened since.
    referrals = ReferralRepository(database)
    for inviter in ("M-0", "M-9"):
        await referrals.record_attempt(
            InviteOutcome.VALID, month="2026-12", telegram_user_id=user_id, inviter_code=inviter
        )
        if inviter == "M-0":
            await referrals.claim(user_id, f"{member_code}-planned", month="2026-12", cap=None)


async def _rows_mentioning(database: Database, user_id: int, card_number: str) -> dict[str, int]:
    """Rows of every table that name the user or their card, whatever the table."""
    found: dict[str, int] = {}
    for name, table_columns in (await database.tables()).items():
        columns = set(table_columns)
        checks = [
            f"{column} = ?"
            for column in ("telegram_user_id", "user_id", "chat_id")
            if column in columns
        ]
        params: list[int | str] = [user_id] * len(checks)
        if "card_number" in columns:
            checks.append("card_number = ?")
            params.append(card_number)
        if not checks:
            continue
        row = await database.fetch_one(
            f"SELECT count(*) FROM {name} WHERE {' OR '.join(checks)}", params
        )
        assert row is not None
        found[name] = row[0]
    return found


async def test_forget_erases_the_user_from_every_table_and_nobody_else(
    database: Database,
) -> None:
    await _remember_everything_about(database, ANNA, "M-1", "4000000000000001")
    await _remember_everything_about(database, BORIS, "M-2", "4000000000000002")
    boris_before = await _rows_mentioning(database, BORIS, "4000000000000002")
    assert set(boris_before) >= {
        "member_links",
        "user_languages",
        "email_codes",
        "pending_joins",
        "card_images",
        "fsm_records",
    }
    assert all(count > 0 for count in boris_before.values())

    erased = await MemberLinks(database).forget(ANNA)

    anna_after = await _rows_mentioning(database, ANNA, "4000000000000001")
    assert anna_after == dict.fromkeys(anna_after, 0)
    assert erased == sum(boris_before.values())
    assert await _rows_mentioning(database, BORIS, "4000000000000002") == boris_before
    assert await MemberLinks(database).get_language(ANNA) is None
    assert await SQLiteStorage(database).get_state(StorageKey(BOT, ANNA, ANNA)) is None
    assert await MemberLinks(database).forget(ANNA) == 0


async def test_forget_also_erases_a_visitor_who_never_joined(database: Database) -> None:
    links = MemberLinks(database)
    await links.set_language(ANNA, "ru")
    await SQLiteStorage(database).set_state(StorageKey(BOT, ANNA, ANNA), "Enrollment:phone")
    assert await links.forget(ANNA) == 2
    assert await links.get_language(ANNA) is None


async def test_card_file_ids_are_per_bot(database: Database) -> None:
    cards = CardImages(database)
    assert await cards.get_file_id(BOT, "4000") is None
    await cards.remember_file_id(BOT, "4000", "AgAD-first")
    await cards.remember_file_id(OTHER_BOT, "4000", "AgAD-other-bot")
    assert await cards.get_file_id(BOT, "4000") == "AgAD-first"
    assert await cards.get_file_id(OTHER_BOT, "4000") == "AgAD-other-bot"
    assert await cards.get_file_id(BOT, "4001") is None

    await cards.forget_file_id(BOT, "4000")
    assert await cards.get_file_id(BOT, "4000") is None
    assert await cards.get_file_id(OTHER_BOT, "4000") == "AgAD-other-bot"


async def test_rendered_pngs_stay_in_memory_and_out_of_the_database(
    database: Database,
) -> None:
    cards = CardImages(database, recent_pngs=2)
    assert await cards.get_png(BOT, "4000") is None
    await cards.put_png(BOT, "4000", PNG)
    await cards.remember_file_id(BOT, "4000", "AgAD-1")
    assert await cards.get_png(BOT, "4000") == PNG
    columns = set((await database.tables())["card_images"])
    assert columns == {"bot_id", "card_number", "file_id", "file_id_at"}
    # Another process (or this one after a restart) renders again.
    assert await CardImages(database).get_png(BOT, "4000") is None
    assert await CardImages(database).get_file_id(BOT, "4000") == "AgAD-1"

    await cards.forget_file_id(BOT, "4000")
    assert await cards.get_file_id(BOT, "4000") is None
    assert await cards.get_png(BOT, "4000") == PNG

    # Only the latest few renders are held.
    await cards.put_png(BOT, "4001", PNG + b"1")
    await cards.put_png(BOT, "4002", PNG + b"2")
    assert await cards.get_png(BOT, "4000") is None
    assert await cards.get_png(BOT, "4002") == PNG + b"2"

    await cards.remember_file_id(BOT, "4002", "AgAD-2")
    assert await cards.forget_card("4002") == 1
    assert await cards.get_png(BOT, "4002") is None
    assert await cards.get_file_id(BOT, "4002") is None


async def test_email_code_lifecycle(database: Database, clock: FakeClock) -> None:
    codes = EmailCodes(database, clock=clock)
    expires = clock.now + dt.timedelta(minutes=10)
    assert await codes.get(ANNA) is None
    assert await codes.count_attempt(ANNA) is None

    started = await codes.start(ANNA, "anna@example.com", "hash-1", expires)
    assert await codes.get(ANNA) == started
    assert (started.attempts, started.resends) == (0, 0)
    assert not started.expired(clock.now)
    assert started.expired(clock.advance(minutes=10))

    assert await codes.count_attempt(ANNA) == 1
    assert await codes.count_attempt(ANNA) == 2
    resent_expiry = clock.now + dt.timedelta(minutes=10)
    assert await codes.count_resend(ANNA, "hash-2", resent_expiry) == 1
    pending = await codes.get(ANNA)
    assert pending is not None
    assert (pending.code_hash, pending.attempts, pending.resends) == ("hash-2", 0, 1)
    assert pending.expires_at == resent_expiry
    assert await codes.count_resend(BORIS, "hash", resent_expiry) is None

    restarted = await codes.start(ANNA, "anna@work.example", "hash-3", resent_expiry)
    assert (restarted.email, restarted.attempts, restarted.resends) == ("anna@work.example", 0, 0)

    assert await codes.clear(ANNA) is True
    assert await codes.clear(ANNA) is False
    assert await codes.get(ANNA) is None


async def test_email_code_attempts_counted_at_once_are_all_counted(database: Database) -> None:
    codes = EmailCodes(database)
    await codes.start(ANNA, "anna@example.com", "hash", dt.datetime.now(dt.UTC))
    used = await asyncio.gather(*(codes.count_attempt(ANNA) for _ in range(20)))
    assert sorted(n for n in used if n is not None) == list(range(1, 21))


async def test_email_code_expiry_must_be_timezone_aware(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await EmailCodes(database).start(ANNA, "a@example.com", "hash", dt.datetime(2025, 1, 1))
    assert await EmailCodes(database).get(ANNA) is None


async def test_expired_codes_are_cleared(database: Database, clock: FakeClock) -> None:
    codes = EmailCodes(database, clock=clock)
    await codes.start(ANNA, "anna@example.com", "hash", clock.now + dt.timedelta(minutes=5))
    await codes.start(BORIS, "boris@example.com", "hash", clock.now + dt.timedelta(minutes=15))
    clock.advance(minutes=10)
    assert await codes.clear_expired() == 1
    assert await codes.get(ANNA) is None
    assert await codes.get(BORIS) is not None


async def test_pending_join_keeps_its_first_member_code(
    database: Database, clock: FakeClock
) -> None:
    joins = PendingJoins(database, clock=clock)
    payload = json.dumps({"phone": "+15551234567", "first_name": "Anna"})
    first = await joins.put(ANNA, "M-1", payload)

    again = await joins.put(ANNA, "M-9", json.dumps({"phone": "+15550000000"}))

    assert again == first
    assert await joins.get(ANNA) == first
    assert json.loads(first.payload_json)["first_name"] == "Anna"
    assert first.created_at == clock.now
    with pytest.raises(JoinConflict):
        await joins.put(BORIS, "M-1", "{}")
    with pytest.raises(ValueError, match="JSON"):
        await joins.put(BORIS, "M-2", "{not json")
    assert await joins.get(BORIS) is None


async def test_due_joins_come_oldest_first_and_wait_out_their_retry_time(
    database: Database, clock: FakeClock
) -> None:
    joins = PendingJoins(database, clock=clock)
    await joins.put(BORIS, "M-2", "{}")
    clock.advance(seconds=1)
    await joins.put(ANNA, "M-1", "{}")
    assert [join.telegram_user_id for join in await joins.list_due()] == [BORIS, ANNA]

    assert await joins.record_attempt(BORIS, clock.now + dt.timedelta(minutes=5)) == 1
    assert [join.telegram_user_id for join in await joins.list_due()] == [ANNA]
    clock.advance(minutes=5)
    due = await joins.list_due()
    assert [join.telegram_user_id for join in due] == [BORIS, ANNA]
    assert due[0].attempts == 1
    assert await joins.list_due(limit=1) == due[:1]
    assert await joins.record_attempt(1003, clock.now) is None


async def test_a_due_join_is_taken_by_one_of_several_replicas(
    database: Database, database_target: str, clock: FakeClock
) -> None:
    # Each replica has its own connection to the shared database.
    others = [await open_database(database_target) for _ in range(3)]
    try:
        replicas = [PendingJoins(db, clock=clock) for db in (database, *others)]
        await replicas[0].put(ANNA, "M-1", "{}")
        retry_at = clock.now + dt.timedelta(minutes=1)

        taken = await asyncio.gather(*(r.claim_due(ANNA, retry_at) for r in replicas * 3))

        assert taken.count(True) == 1
        assert await replicas[1].list_due() == []
        clock.advance(minutes=1)
        assert await replicas[2].claim_due(ANNA, clock.now + dt.timedelta(minutes=1))
        assert not await replicas[2].claim_due(BORIS, clock.now)  # no such join
    finally:
        for db in others:
            await db.close()


async def test_a_join_completes_exactly_once(database: Database) -> None:
    joins = PendingJoins(database)
    await joins.put(ANNA, "M-1", "{}")

    assert await joins.complete(ANNA, member_code="M-other") is False
    outcomes = await asyncio.gather(*(joins.complete(ANNA, member_code="M-1") for _ in range(10)))

    assert outcomes.count(True) == 1
    assert await joins.get(ANNA) is None
    assert await joins.list_due() == []


async def test_a_fresh_database_is_at_the_latest_version(database: Database) -> None:
    assert await database.schema_version() == MIGRATIONS[-1].version


async def test_open_creates_folders_and_memory_works(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "bot.db"
    on_disk = await open_database(nested)
    in_memory = await open_database(":memory:")
    try:
        assert nested.exists()
        await MemberLinks(in_memory).set_language(ANNA, "en")
        assert await MemberLinks(in_memory).get_language(ANNA) == "en"
        row = await on_disk.fetch_one("PRAGMA journal_mode")
        assert row is not None
        assert row[0] == "wal"
    finally:
        await on_disk.close()
        await in_memory.close()
        await in_memory.close()


def _make_version_1_file(path: Path) -> None:
    """A database as version 1 of the bot left it, with a member, a language and a card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        for statement in MIGRATIONS[0].statements:
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 1")
        connection.execute(
            "INSERT INTO member_links VALUES (?, 'M-1', '4000', 'Anna', ?)",
            (ANNA, "2024-05-01T10:00:00.000000+00:00"),
        )
        connection.execute("INSERT INTO user_languages VALUES (?, 'es', ?)", (ANNA, "x"))
        connection.execute(
            "INSERT INTO card_images VALUES (?, '4000', 'AgAD-v1', ?)",
            (BOT, "2024-05-01T10:00:00.000000+00:00"),
        )
        connection.execute(
            "INSERT INTO fsm_records VALUES (?, ?, ?, 0, '', 'default', 'Menu:main', ?, ?)",
            (BOT, ANNA, ANNA, '{"page":2}', "2024-05-01T10:00:00.000000+00:00"),
        )
    connection.close()


async def test_a_version_1_database_is_migrated_and_keeps_its_rows(db_path: Path) -> None:
    _make_version_1_file(db_path)

    database = await open_database(db_path)
    try:
        assert await database.schema_version() == LATEST
        link = await MemberLinks(database).get(ANNA)
        assert link is not None
        assert link.linked_at == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
        assert await MemberLinks(database).get_language(ANNA) == "es"
        cards = CardImages(database)
        assert await cards.get_file_id(BOT, "4000") == "AgAD-v1"
        assert await cards.get_png(BOT, "4000") is None
        await cards.put_png(BOT, "4001", PNG)
        assert await cards.get_png(BOT, "4001") == PNG
        key = StorageKey(BOT, ANNA, ANNA)
        assert await SQLiteStorage(database).get_state(key) == "Menu:main"
        assert await SQLiteStorage(database).get_data(key) == {"page": 2}
        await PendingJoins(database).put(BORIS, "M-2", "{}")
        await EmailCodes(database).start(BORIS, "b@example.com", "h", dt.datetime.now(dt.UTC))
    finally:
        await database.close()

    reopened = await open_database(db_path)
    try:
        assert await reopened.schema_version() == LATEST
        assert await PendingJoins(reopened).get(BORIS) is not None
    finally:
        await reopened.close()


async def test_a_failing_migration_is_rolled_back_whole(db_path: Path) -> None:
    _make_version_1_file(db_path)
    broken = (
        *MIGRATIONS,
        Migration(
            LATEST + 1, "broken", ("CREATE TABLE loyalty_outbox (id INTEGER)", "SELECT nope")
        ),
    )

    with pytest.raises(SchemaError, match=f"migration {LATEST + 1} \\(broken\\)"):
        await open_database(db_path, migrations=broken)

    database = await open_database(db_path)
    try:
        assert await database.schema_version() == LATEST
        assert (
            await database.fetch_one(
                "SELECT name FROM sqlite_master WHERE name = 'loyalty_outbox'"
            )
            is None
        )
        assert await MemberLinks(database).get_language(ANNA) == "es"
    finally:
        await database.close()


async def test_a_database_from_a_newer_bot_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA user_version = 99")
    connection.close()

    with pytest.raises(SchemaError, match="newer"):
        await open_database(db_path)

    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 99
        assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    connection.close()


async def test_two_processes_opening_a_new_file_at_once_both_succeed(db_path: Path) -> None:
    first, second = await asyncio.gather(open_database(db_path), open_database(db_path))
    try:
        assert await first.schema_version() == await second.schema_version() == LATEST
    finally:
        await first.close()
        await second.close()


async def test_a_transaction_that_raises_leaves_nothing_behind(database: Database) -> None:
    with pytest.raises(RuntimeError, match="platform said no"):
        async with database.transaction() as tx:
            await tx.execute(
                "INSERT INTO user_languages VALUES (?, 'es', '2025-01-01T00:00:00.000000+00:00')",
                (ANNA,),
            )
            raise RuntimeError("platform said no")
    assert await MemberLinks(database).get_language(ANNA) is None


async def test_using_the_database_inside_its_own_transaction_fails_instead_of_hanging(
    database: Database,
) -> None:
    async with database.transaction():
        with pytest.raises(RuntimeError, match="open Transaction"):
            await asyncio.wait_for(database.fetch_one("SELECT 1"), timeout=5)
    assert await database.fetch_one("SELECT 1") is not None


async def test_a_key_lookup_reads_the_last_commit_and_never_an_open_transaction(
    database: Database,
) -> None:
    links = MemberLinks(database)
    await links.link(ANNA, "M-ANNA", card_number="4000123412341234")
    await links.set_language(ANNA, "es")
    anna = await links.get(ANNA)
    assert anna is not None
    assert (anna.member_code, anna.card_number) == ("M-ANNA", "4000123412341234")
    assert anna == await links.get_by_member("M-ANNA")
    assert await links.get(BORIS) is None
    assert await links.get_language(ANNA) == "es"
    written = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with database.transaction() as tx:
            await tx.execute(
                "UPDATE user_languages SET language = 'ru' WHERE telegram_user_id = ?", (ANNA,)
            )
            written.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await asyncio.wait_for(written.wait(), timeout=5)
    # The write is not committed: the lookup neither waits for it nor sees it.
    assert await asyncio.wait_for(links.get_language(ANNA), timeout=5) == "es"
    release.set()
    await task
    assert await links.get_language(ANNA) == "ru"
    with pytest.raises(RuntimeError, match="open Transaction"):
        async with database.transaction():
            await links.get_language(ANNA)
    await database.close()
    with pytest.raises(RuntimeError, match="closed"):
        await links.get(ANNA)


async def test_a_key_lookup_that_meets_a_busy_file_asks_the_reader_instead(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = await open_database(db_path)
    try:
        await MemberLinks(database).set_language(ANNA, "es")
        # The lookup's own connection swapped for one on a file another connection holds
        # exclusively: it answers SQLITE_BUSY at once.
        locked = tmp_path / "locked.db"
        holder = sqlite3.connect(locked, isolation_level=None)
        holder.execute("CREATE TABLE user_languages (telegram_user_id, language)")
        holder.execute("BEGIN EXCLUSIVE")
        busy = sqlite3.connect(locked, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            busy.execute("SELECT * FROM user_languages").fetchall()
        monkeypatch.setattr(database, "_inline", busy)
        assert await MemberLinks(database).get_language(ANNA) == "es"
        monkeypatch.undo()
        holder.close()
        busy.close()
        # Other errors are not hidden.
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await database.look_up("SELECT * FROM no_such_table WHERE id = ?", (1,))
    finally:
        await database.close()


async def test_a_cancelled_transaction_is_rolled_back(database: Database) -> None:
    inside = asyncio.Event()

    async def slow_write() -> None:
        async with database.transaction() as tx:
            await tx.execute(
                "INSERT INTO user_languages VALUES (?, 'es', '2025-01-01T00:00:00.000000+00:00')",
                (ANNA,),
            )
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(slow_write())
    await asyncio.wait_for(inside.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await MemberLinks(database).get_language(ANNA) is None
    await MemberLinks(database).set_language(BORIS, "en")
    assert await MemberLinks(database).get_language(BORIS) == "en"


async def test_replicas_sweeping_due_joins_at_once_take_each_join_once(
    database: Database, database_target: str, clock: FakeClock
) -> None:
    others = [await open_database(database_target) for _ in range(3)]
    try:
        replicas = [PendingJoins(db, clock=clock) for db in (database, *others)]
        for user in range(40):
            await replicas[0].put(5000 + user, f"M-{user}", "{}")
            clock.advance(seconds=1)
        retry_at = clock.now + dt.timedelta(minutes=1)

        batches = await asyncio.gather(
            *(r.take_due(retry_at, limit=7) for r in replicas for _ in range(3))
        )

        taken = [join.telegram_user_id for batch in batches for join in batch]
        assert len(taken) == len(set(taken)) == 40  # each join once, none left behind
        assert all(len(batch) <= 7 for batch in batches)
        assert await replicas[1].take_due(retry_at) == []  # hidden until retry_at
        clock.advance(minutes=1)
        again = await replicas[2].take_due(clock.now + dt.timedelta(minutes=1), limit=100)
        assert [join.telegram_user_id for join in again] == [5000 + user for user in range(40)]
    finally:
        for db in others:
            await db.close()


async def test_replicas_settling_owed_bonuses_at_once_take_each_bonus_once(
    database: Database, database_target: str, clock: FakeClock
) -> None:
    others = [await open_database(database_target) for _ in range(3)]
    try:
        stores = [OwedBonuses(db, clock=clock) for db in (database, *others)]
        for number in range(30):
            owed = await stores[0].owe(
                key=f"birthday:M-{number}:2026",
                member_code=f"M-{number}",
                campaign_id="C-1",
                amount=Decimal(5),
                label="Birthday",
            )
            assert owed is not None
            await stores[0].bonus_outcome(owed, BonusState.DOUBT)
        clock.advance(minutes=1)

        batches = await asyncio.gather(
            *(s.take_owed_batch(stale_before=clock.now, limit=4) for s in stores for _ in range(3))
        )

        taken = [bonus.key for batch in batches for bonus in batch]
        assert len(taken) == len(set(taken))
        assert len(taken) == min(30, 4 * 12)
        # Taken ones are "sending" now: not taken again until their send is stale.
        assert (
            await stores[1].take_owed_batch(stale_before=clock.now - dt.timedelta(minutes=5)) == []
        )
        assert (
            len(await stores[2].take_owed_batch(stale_before=clock.now + dt.timedelta(seconds=1)))
            == 30
        )
    finally:
        for db in others:
            await db.close()


async def test_a_personal_link_is_used_once_when_two_connections_race(
    database: Database, database_target: str
) -> None:
    other = await open_database(database_target)
    try:
        link = await LinkRepository(database).add(
            NewLink(
                token="tok-personal",
                campaign_id=None,
                source="invite",
                max_uses=1,
                member_code="M-77",
            )
        )
        repositories = (LinkRepository(database), LinkRepository(other))
        claims = await asyncio.gather(
            *(
                repositories[user % 2].claim_personal(link.id, 6000 + user, None)
                for user in range(12)
            )
        )
        assert sum(claim is not None for claim in claims) == 1
        stored = await repositories[1].by_id(link.id)
        assert stored is not None and stored.uses == 1
    finally:
        await other.close()


async def test_uniqueness_holds_on_both_engines(database: Database) -> None:
    links = MemberLinks(database)
    await links.link(ANNA, "M-1")
    with pytest.raises(LinkConflict):
        await links.link(BORIS, "M-1")  # one member, one account
    repository = LinkRepository(database)
    await repository.add(NewLink(token="same", campaign_id=None, source="a"))
    with pytest.raises(Exception):  # noqa: B017 - each engine names the violation its way
        await repository.add(NewLink(token="same", campaign_id=None, source="b"))
    assert len(await repository.all()) == 1
