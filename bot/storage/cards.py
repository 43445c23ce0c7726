"""Card images: Telegram's ``file_id`` after the first upload, kept in the database; the PNG
itself never is (about 20 KB a member, and it can be rendered again at any time).

Rows are per bot because a ``file_id`` is only valid for the bot that uploaded the file. The
PNGs this process rendered last stay in a small in-memory cache, so a refused ``file_id`` is
followed by a re-upload without a second render; anything else renders again.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.storage.database import Database
from bot.storage.timestamps import Clock, to_text, utc_now

RECENT_PNGS = 64
"""How many rendered PNGs one process keeps in memory (about 1.3 MB)."""


class CardImages:
    def __init__(
        self, database: Database, *, clock: Clock = utc_now, recent_pngs: int = RECENT_PNGS
    ) -> None:
        self._database = database
        self._clock = clock
        self._recent: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._recent_limit = recent_pngs

    async def get_file_id(self, bot_id: int, card_number: str) -> str | None:
        row = await self._database.fetch_one(
            "SELECT file_id FROM card_images WHERE bot_id = ? AND card_number = ?",
            (bot_id, card_number),
        )
        return None if row is None else str(row["file_id"])

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
        """Drop a ``file_id`` Telegram no longer accepts."""
        await self._database.execute(
            "DELETE FROM card_images WHERE bot_id = ? AND card_number = ?",
            (bot_id, card_number),
        )

    async def get_png(self, bot_id: int, card_number: str) -> bytes | None:
        """The PNG this process rendered for the card lately, if it still holds it."""
        png = self._recent.get((bot_id, card_number))
        if png is not None:
            self._recent.move_to_end((bot_id, card_number))
        return png

    async def put_png(self, bot_id: int, card_number: str, png: bytes) -> None:
        """Hold a rendered card in memory (never in the database)."""
        if not png:
            raise ValueError("png must not be empty")
        self._recent[(bot_id, card_number)] = png
        self._recent.move_to_end((bot_id, card_number))
        while len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)

    async def forget_card(self, card_number: str) -> int:
        """Drop every bot's images of the card, e.g. after the card design changed."""
        for key in [key for key in self._recent if key[1] == card_number]:
            del self._recent[key]
        return await self._database.execute(
            "DELETE FROM card_images WHERE card_number = ?", (card_number,)
        )
