"""Which messages of the bot's own accord a member wants, and whose chat is out of reach.

Two switches per Telegram account, both on until the member turns one off: balance-change
messages and broadcasts. A chat that refused a message for good (the member blocked the bot)
is marked unreachable, so broadcasts skip it; the member opening 🔔 Notifications (they are
back) clears the mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.storage.database import Repository
from bot.storage.timestamps import to_text


@dataclass(frozen=True, slots=True)
class Switches:
    balance: bool = True
    broadcasts: bool = True
    unreachable: bool = False


class NotificationSettings(Repository):
    async def get(self, telegram_user_id: int) -> Switches:
        row = await self._database.fetch_one(
            "SELECT * FROM notification_settings WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )
        if row is None:
            return Switches()
        return Switches(
            balance=bool(row["balance"]),
            broadcasts=bool(row["broadcasts"]),
            unreachable=row["unreachable_at"] is not None,
        )

    async def turn(
        self, telegram_user_id: int, *, balance: bool | None = None, broadcasts: bool | None = None
    ) -> Switches:
        """Turn a switch on or off (``None`` leaves it); returns both afterwards."""
        await self._database.execute(
            "INSERT INTO notification_settings (telegram_user_id, balance, broadcasts, "
            "changed_at) VALUES (?, coalesce(?, 1), coalesce(?, 1), ?) "
            "ON CONFLICT (telegram_user_id) DO UPDATE SET "
            "balance = coalesce(?, notification_settings.balance), "
            "broadcasts = coalesce(?, notification_settings.broadcasts), "
            "changed_at = excluded.changed_at",
            (
                telegram_user_id,
                _flag(balance),
                _flag(broadcasts),
                to_text(self._clock()),
                _flag(balance),
                _flag(broadcasts),
            ),
        )
        return await self.get(telegram_user_id)

    async def mark_unreachable(self, telegram_user_id: int) -> None:
        now = to_text(self._clock())
        await self._database.execute(
            "INSERT INTO notification_settings (telegram_user_id, unreachable_at, changed_at) "
            "VALUES (?, ?, ?) ON CONFLICT (telegram_user_id) DO UPDATE SET "
            "unreachable_at = excluded.unreachable_at",
            (telegram_user_id, now, now),
        )

    async def mark_reachable(self, telegram_user_id: int) -> None:
        await self._database.execute(
            "UPDATE notification_settings SET unreachable_at = NULL "
            "WHERE telegram_user_id = ? AND unreachable_at IS NOT NULL",
            (telegram_user_id,),
        )

    async def broadcast_skipped(self, telegram_user_ids: Iterable[int]) -> set[int]:
        """Those of ``telegram_user_ids`` that turned broadcasts off or are unreachable."""
        ids = list(telegram_user_ids)
        skipped: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self._database.fetch_all(
                "SELECT telegram_user_id FROM notification_settings WHERE "
                "(broadcasts = 0 OR unreachable_at IS NOT NULL) AND telegram_user_id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            )
            skipped.update(int(row["telegram_user_id"]) for row in rows)
        return skipped


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)
