"""Pending one-time email codes, one per Telegram user.

Storage only: the code arrives here already hashed, and the limits on attempts and resends
are the verification service's policy. Counters are incremented in SQL, so two messages
handled at once can never both use the same attempt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.storage.database import Repository, Row, from_row
from bot.storage.timestamps import to_text


@dataclass(frozen=True, slots=True)
class PendingEmailCode:
    telegram_user_id: int
    email: str
    code_hash: str
    expires_at: dt.datetime
    attempts: int
    resends: int
    started_at: dt.datetime

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


def _code_from_row(row: Row) -> PendingEmailCode:
    return from_row(PendingEmailCode, row, moments=("expires_at", "started_at"))


class EmailCodes(Repository):
    async def start(
        self, telegram_user_id: int, email: str, code_hash: str, expires_at: dt.datetime
    ) -> PendingEmailCode:
        """Begin a verification; replaces the user's earlier pending code and its counters."""
        started_at = self._clock()
        await self._database.execute(
            "INSERT INTO email_codes "
            "(telegram_user_id, email, code_hash, expires_at, attempts, resends, started_at) "
            "VALUES (?, ?, ?, ?, 0, 0, ?) ON CONFLICT (telegram_user_id) DO UPDATE SET "
            "email = excluded.email, code_hash = excluded.code_hash, "
            "expires_at = excluded.expires_at, attempts = 0, resends = 0, "
            "started_at = excluded.started_at",
            (telegram_user_id, email, code_hash, to_text(expires_at), to_text(started_at)),
        )
        return PendingEmailCode(
            telegram_user_id=telegram_user_id,
            email=email,
            code_hash=code_hash,
            expires_at=expires_at.astimezone(dt.UTC),
            attempts=0,
            resends=0,
            started_at=started_at,
        )

    async def get(self, telegram_user_id: int) -> PendingEmailCode | None:
        """The pending code, expired or not: expiry is the service's call."""
        return await self._database.fetch_one_as(
            _code_from_row,
            "SELECT * FROM email_codes WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )

    async def count_attempt(self, telegram_user_id: int) -> int | None:
        """Count one guess; returns the guesses used so far, ``None`` if no code is pending."""
        row = await self._database.fetch_one(
            "UPDATE email_codes SET attempts = attempts + 1 "
            "WHERE telegram_user_id = ? RETURNING attempts",
            (telegram_user_id,),
        )
        return None if row is None else int(row["attempts"])

    async def count_resend(
        self, telegram_user_id: int, code_hash: str, expires_at: dt.datetime
    ) -> int | None:
        """Replace the code with a freshly sent one and count the resend.

        The old code stops working and the new one gets its own guesses (attempts restart
        at 0). Returns the resends used so far, ``None`` if no code is pending.
        """
        row = await self._database.fetch_one(
            "UPDATE email_codes SET resends = resends + 1, attempts = 0, code_hash = ?, "
            "expires_at = ? WHERE telegram_user_id = ? RETURNING resends",
            (code_hash, to_text(expires_at), telegram_user_id),
        )
        return None if row is None else int(row["resends"])

    async def clear(self, telegram_user_id: int) -> bool:
        removed = await self._database.execute(
            "DELETE FROM email_codes WHERE telegram_user_id = ?", (telegram_user_id,)
        )
        return removed > 0

    async def clear_expired(self, now: dt.datetime | None = None) -> int:
        """Housekeeping: drop codes past their expiry. Returns how many."""
        return await self._database.execute(
            "DELETE FROM email_codes WHERE expires_at <= ?",
            (to_text(now or self._clock()),),
        )
