"""Bonuses owed for a reason other than a signup link (an invited friend, a birthday).

Each row is keyed by its reason (``referral:12:friend``, ``birthday:<member>:2026``), so a
reason can never pay twice, and is written in state ``sending`` before the platform is asked
to pay. The states and the retry rules are those of signup bonuses (``BonusState``): a send
with no outcome is in doubt until the member's history is checked for its marker.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal

from bot.storage.database import Row, Transaction, from_row
from bot.storage.links import BonusState, OwedBonusRows
from bot.storage.timestamps import to_text


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


def _owed_bonus_from_row(row: Row) -> OwedBonus:
    return from_row(OwedBonus, row, moments=("updated_at",), amount=Decimal(row["amount"]))


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
    return None if row is None else _owed_bonus_from_row(row)


class OwedBonuses(OwedBonusRows[OwedBonus]):
    """The ``owed_bonuses`` table; its bonus calls are ``LinkRepository``'s for signup bonuses
    (``OwedBonusRows``), so that one payer (``bot.services.owed_bonuses``) settles both."""

    _owed_table = "owed_bonuses"
    _owed_key = ("key",)
    _owed_from_row = staticmethod(_owed_bonus_from_row)

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
