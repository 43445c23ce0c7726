"""Card images rendered once: the PNG bytes and Telegram's ``file_id`` after the first upload.

Rows are per bot because a ``file_id`` is only valid for the bot that uploaded the file.
"""

from __future__ import annotations

from bot.storage.database import Database
from bot.storage.timestamps import Clock, to_text, utc_now

_DROP_EMPTY = "DELETE FROM card_images WHERE bot_id = ? AND card_number = ? AND {} IS NULL"


class CardImages:
    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def get_file_id(self, bot_id: int, card_number: str) -> str | None:
        row = await self._database.fetch_one(
            "SELECT file_id FROM card_images WHERE bot_id = ? AND card_number = ?",
            (bot_id, card_number),
        )
        return None if row is None else row["file_id"]

    async def remember_file_id(self, bot_id: int, card_number: str, file_id: str) -> None:
        if not file_id:
            raise ValueError("file_id must not be empty")
        await self._database.execute(
            "INSERT INTO card_images (bot_id, card_number, file_id, file_id_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (bot_id, card_number) DO UPDATE SET "
            "file_id = excluded.file_id, file_id_at = excluded.file_id_at",
            (bot_id, card_number, file_id, to_text(self._clock())),
        )

    async def forget_file_id(self, bot_id: int, card_number: str) -> None:
        """Drop a ``file_id`` Telegram no longer accepts; a kept PNG stays for the re-upload."""
        async with self._database.transaction() as tx:
            await tx.execute(
                "UPDATE card_images SET file_id = NULL, file_id_at = NULL "
                "WHERE bot_id = ? AND card_number = ? AND png IS NOT NULL",
                (bot_id, card_number),
            )
            await tx.execute(_DROP_EMPTY.format("png"), (bot_id, card_number))

    async def get_png(self, bot_id: int, card_number: str) -> bytes | None:
        row = await self._database.fetch_one(
            "SELECT png FROM card_images WHERE bot_id = ? AND card_number = ?",
            (bot_id, card_number),
        )
        return None if row is None or row["png"] is None else bytes(row["png"])

    async def put_png(self, bot_id: int, card_number: str, png: bytes) -> None:
        """Keep the rendered card; a different PNG drops the ``file_id`` of the old one."""
        if not png:
            raise ValueError("png must not be empty")
        await self._database.execute(
            "INSERT INTO card_images (bot_id, card_number, png, png_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (bot_id, card_number) DO UPDATE SET "
            "file_id = CASE WHEN png IS excluded.png THEN file_id END, "
            "file_id_at = CASE WHEN png IS excluded.png THEN file_id_at END, "
            "png = excluded.png, png_at = excluded.png_at",
            (bot_id, card_number, png, to_text(self._clock())),
        )

    async def forget_card(self, card_number: str) -> int:
        """Drop every bot's images of the card, e.g. after the card design changed."""
        return await self._database.execute(
            "DELETE FROM card_images WHERE card_number = ?", (card_number,)
        )
