"""Kiosk balance notices pending: written before a staff purchase or redemption reaches the
platform, removed once the member's message is handed on. A notice still here after its
process died is settled by its marker (the transaction's description on the platform)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.storage.database import Repository
from bot.storage.timestamps import from_text, to_text


@dataclass(frozen=True, slots=True)
class PendingNotice:
    marker: str
    member_code: str
    campaign_id: str
    created_at: dt.datetime


class PendingNotices(Repository):
    async def add(self, marker: str, member_code: str, campaign_id: str) -> None:
        await self._database.execute(
            "INSERT INTO kiosk_notices (marker, member_code, campaign_id, created_at) "
            "VALUES (?, ?, ?, ?)",
            (marker, member_code, campaign_id, to_text(self._clock())),
        )

    async def remove(self, marker: str) -> None:
        await self._database.execute("DELETE FROM kiosk_notices WHERE marker = ?", (marker,))

    async def older_than(self, cutoff: dt.datetime) -> list[PendingNotice]:
        rows = await self._database.fetch_all(
            "SELECT * FROM kiosk_notices WHERE created_at < ? ORDER BY created_at",
            (to_text(cutoff),),
        )
        return [
            PendingNotice(
                marker=row["marker"],
                member_code=row["member_code"],
                campaign_id=row["campaign_id"],
                created_at=from_text(row["created_at"]),
            )
            for row in rows
        ]

    async def count(self) -> int:
        row = await self._database.fetch_one("SELECT count(*) FROM kiosk_notices")
        return 0 if row is None else int(row[0])
