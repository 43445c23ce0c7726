"""Card images are no longer cached in SQLite: the migration keeps the file_ids of the old
rows and drops their PNGs (about 20 KB each)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage.cards import CardImages
from bot.storage.database import open_database
from bot.storage.migrations import MIGRATIONS

BOT = 42
FAKE_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20_000
CARD_IMAGES_WITHOUT_PNG = next(
    m.version for m in MIGRATIONS if m.name.startswith("card images: Telegram's file_id only")
)


async def test_the_migration_keeps_file_ids_and_drops_the_pngs(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    before = [m for m in MIGRATIONS if m.version < CARD_IMAGES_WITHOUT_PNG]
    old = await open_database(path, migrations=before)
    try:
        for number in range(50):
            await old.execute(
                "INSERT INTO card_images (bot_id, card_number, file_id, file_id_at, png, png_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (BOT, f"40000000000{number:02d}", f"AgAD-{number}", "2026-01-01", FAKE_PNG, "x"),
            )
        # Rendered, but the upload never came back: nothing worth keeping.
        await old.execute(
            "INSERT INTO card_images (bot_id, card_number, png, png_at) VALUES (?, ?, ?, ?)",
            (BOT, "4000000000099", FAKE_PNG, "x"),
        )
    finally:
        await old.close()

    database = await open_database(path)
    try:
        columns = {r["name"] for r in await database.fetch_all("PRAGMA table_info(card_images)")}
        assert columns == {"bot_id", "card_number", "file_id", "file_id_at"}
        cards = CardImages(database)
        assert await cards.get_file_id(BOT, "4000000000007") == "AgAD-7"
        assert await cards.get_png(BOT, "4000000000007") is None
        assert await cards.get_file_id(BOT, "4000000000099") is None
        row = await database.fetch_one("SELECT count(*) FROM card_images")
        assert row is not None and row[0] == 50
        await database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await database.close()
    # Not one PNG byte is left in a live page (VACUUM would also return the free pages).
    with sqlite3.connect(path) as connection:
        connection.execute("VACUUM")
    connection.close()
    assert b"\x89PNG" not in path.read_bytes()
