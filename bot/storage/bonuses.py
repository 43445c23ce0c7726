"""Bonuses owed for a reason other than a signup link (an invited friend, a birthday).

Each row is keyed by its reason (``referral:12:friend``, ``birthday:<member>:2026``), so a
reason can never pay twice, and is written in state ``sending`` before the platform is asked
to pay. The states and the retry rules are those of signup bonuses (``BonusState``): a send
with no outcome is in doubt until the member's history is checked for its marker.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from bot.storage.database import Repository, Transaction
from bot.storage.links import BonusState, owed_rows, take_owed_rows
from bot.storage.timestamps import from_text, to_text


@dataclass(frozen=True, slots=True)
class OwedBonus:
    """A bonus the caller must now ask the platform to pay (state ``sending``)."""

    key: str
    member_code: str
    campaign_id: str
    amount: Decimal
    marker: str
    """Written as the transaction's description, so a retry can see whether it was paid."""
    updated_at: dt.datetime


def _owed_from_row(row: sqlite3.Row) -> OwedBonus:
    return OwedBonus(
        key=row["key"],
        member_code=row["member_code"],
        campaign_id=row["campaign_id"],
        amount=Decimal(row["amount"]),
        marker=row["marker"],
        updated_at=from_text(row["updated_at"]),
    )


def new_marker(label: str) -> str:
    return f"{label} #{secrets.token_hex(5)}"


async def owe_bonus(
    tx: Transaction,
    *,
    key: str,
    member_code: str,
    campaign_id: str,
    amount: Decimal,
    label: str,
    now: dt.datetime,
) -> OwedBonus | None:
    """Write the bonus of ``key`` in state ``sending`` inside ``tx``; ``None`` if that key
    already has one (it was paid, or is being paid, by someone else)."""
    row = await tx.fetch_one(
        "INSERT INTO owed_bonuses (key, member_code, campaign_id, amount, state, marker, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING *",
        (
            key,
            member_code,
            campaign_id,
            str(amount),
            BonusState.SENDING.value,
            new_marker(label),
            to_text(now),
        ),
    )
    return None if row is None else _owed_from_row(row)


class OwedBonuses(Repository):
    """The ``owed_bonuses`` table, with the same three calls as ``LinkRepository``'s signup
    bonuses so that one payer (``bot.services.owed_bonuses``) settles both."""

    async def owe(
        self, *, key: str, member_code: str, campaign_id: str, amount: Decimal, label: str
    ) -> OwedBonus | None:
        async with self._database.transaction() as tx:
            return await owe_bonus(
                tx,
                key=key,
                member_code=member_code,
                campaign_id=campaign_id,
                amount=amount,
                label=label,
                now=self._clock(),
            )

    async def bonus_outcome(self, bonus: OwedBonus, state: BonusState) -> None:
        await self._database.execute(
            "UPDATE owed_bonuses SET state = ?, updated_at = ? WHERE key = ?",
            (state.value, to_text(self._clock()), bonus.key),
        )

    async def bonuses_owed(
        self, *, stale_before: dt.datetime, member_code: str | None = None, limit: int = 50
    ) -> list[OwedBonus]:
        """Bonuses in doubt, and sends that never reported back (older than ``stale_before``)."""
        rows = await owed_rows(
            self._database,
            "owed_bonuses",
            stale_before=stale_before,
            member_code=member_code,
            limit=limit,
        )
        return [_owed_from_row(row) for row in rows]

    async def take_owed_batch(
        self, *, stale_before: dt.datetime, member_code: str | None = None, limit: int = 50
    ) -> list[OwedBonus]:
        """Take up to ``limit`` bonuses to settle, for one retry each (``take_owed_rows``)."""
        rows = await take_owed_rows(
            self._database,
            "owed_bonuses",
            "key",
            now=self._clock(),
            stale_before=stale_before,
            member_code=member_code,
            limit=limit,
        )
        return [_owed_from_row(row) for row in rows]

    async def take_owed(self, bonus: OwedBonus, *, stale_before: dt.datetime) -> OwedBonus | None:
        """Take an owed bonus for one retry; ``None`` if another worker holds it."""
        row = await self._database.fetch_one(
            "UPDATE owed_bonuses SET state = ?, updated_at = ? WHERE key = ? "
            "AND (state = ? OR (state = ? AND updated_at < ?)) RETURNING *",
            (
                BonusState.SENDING.value,
                to_text(self._clock()),
                bonus.key,
                BonusState.DOUBT.value,
                BonusState.SENDING.value,
                to_text(stale_before),
            ),
        )
        return None if row is None else _owed_from_row(row)

    async def state(self, key: str) -> BonusState | None:
        row = await self._database.fetch_one(
            "SELECT state FROM owed_bonuses WHERE key = ?", (key,)
        )
        return None if row is None else BonusState(row["state"])

    async def states(self, prefix: str) -> dict[str, BonusState]:
        """Every bonus whose key starts with ``prefix``, by key."""
        rows = await self._database.fetch_all(
            "SELECT key, state FROM owed_bonuses WHERE substr(key, 1, ?) = ?",
            (len(prefix), prefix),
        )
        return {row["key"]: BonusState(row["state"]) for row in rows}
