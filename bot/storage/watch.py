"""The balance watcher's state: which members to watch, and the newest transaction seen of
each (its cursor), so a restart neither repeats nor skips a message."""

from __future__ import annotations

import datetime as dt

from bot.storage.database import Repository
from bot.storage.timestamps import to_text


class WatchCursors(Repository):
    async def active_members(self, since: dt.datetime) -> list[str]:
        """Linked members who joined, or were served at a kiosk, since ``since``; the ones
        checked longest ago first."""
        rows = await self._database.fetch_all(
            "SELECT ml.member_code FROM member_links AS ml "
            "LEFT JOIN watch_cursors AS wc ON wc.member_code = ml.member_code "
            "WHERE ml.linked_at >= ? OR EXISTS (SELECT 1 FROM kiosk_actions AS ka "
            "WHERE ka.member_code = ml.member_code AND ka.at >= ?) "
            "ORDER BY coalesce(wc.checked_at, ''), ml.member_code",
            (to_text(since), to_text(since)),
        )
        return [row["member_code"] for row in rows]

    async def get(self, member_code: str) -> str | None:
        row = await self._database.fetch_one(
            "SELECT last_seen FROM watch_cursors WHERE member_code = ?", (member_code,)
        )
        return None if row is None else str(row["last_seen"])

    async def advance(self, member_code: str, last_seen: str) -> None:
        await self._database.execute(
            "INSERT INTO watch_cursors (member_code, last_seen, checked_at) VALUES (?, ?, ?) "
            "ON CONFLICT (member_code) DO UPDATE SET last_seen = excluded.last_seen, "
            "checked_at = excluded.checked_at",
            (member_code, last_seen, to_text(self._clock())),
        )
