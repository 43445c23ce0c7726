"""Birthdays kept with the member link, and the birthday treats given.

A treat is claimed by inserting ``(member_code, year)`` before anything is sent or paid: the
primary key lets one process, one replica, one run have it, once a year per member, whatever
restarts or birthday changes happen in between. ``greeted_at`` is set once its greeting went
out; a claim left without it by a dead process is taken again after a while.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from bot.storage.bonuses import OwedBonus, owe_bonus
from bot.storage.database import Repository, Row, from_row
from bot.storage.referrals import BonusGrant
from bot.storage.timestamps import to_text


@dataclass(frozen=True, slots=True)
class BirthdayMember:
    telegram_user_id: int
    member_code: str
    first_name: str
    birthday: dt.date
    language: str | None


def _member_from_row(row: Row) -> BirthdayMember:
    return from_row(BirthdayMember, row, birthday=dt.date.fromisoformat(row["birthday"]))


class BirthdayBook(Repository):
    async def remember(self, member_code: str, birthday: dt.date | None) -> None:
        """Keep the birthday the platform has (or the member just gave) with the link."""
        await self._database.execute(
            "UPDATE member_links SET birthday = ?, birthday_checked_at = ? WHERE member_code = ?",
            (
                None if birthday is None else birthday.isoformat(),
                to_text(self._clock()),
                member_code,
            ),
        )

    async def birthday(self, member_code: str) -> dt.date | None:
        row = await self._database.fetch_one(
            "SELECT birthday FROM member_links WHERE member_code = ?", (member_code,)
        )
        if row is None or row["birthday"] is None:
            return None
        return dt.date.fromisoformat(row["birthday"])

    async def unchecked(self, *, checked_before: dt.datetime, limit: int) -> list[str]:
        """Member codes whose birthday the platform was never asked for, or not lately."""
        rows = await self._database.fetch_all(
            "SELECT member_code FROM member_links WHERE birthday_checked_at IS NULL "
            "OR birthday_checked_at < ? ORDER BY birthday_checked_at IS NOT NULL, "
            "birthday_checked_at LIMIT ?",
            (to_text(checked_before), limit),
        )
        return [str(row["member_code"]) for row in rows]

    async def celebrating(self, month_days: Collection[str], year: int) -> list[BirthdayMember]:
        """Linked members whose birthday falls on one of ``month_days`` (``MM-DD``) and who
        have had no treat in ``year``."""
        marks = ",".join("?" * len(month_days))
        return await self._database.fetch_all_as(
            _member_from_row,
            "SELECT member_links.telegram_user_id, member_links.member_code, "
            "member_links.first_name, member_links.birthday, user_languages.language "
            "FROM member_links LEFT JOIN user_languages "
            "ON user_languages.telegram_user_id = member_links.telegram_user_id "
            f"WHERE substr(member_links.birthday, 6, 5) IN ({marks}) AND NOT EXISTS ("
            "SELECT 1 FROM birthday_treats WHERE birthday_treats.member_code = "
            "member_links.member_code AND birthday_treats.year = ?) "
            "ORDER BY member_links.member_code",
            (*month_days, year),
        )

    async def claim_treat(
        self, member_code: str, year: int, birthday: dt.date, bonus: BonusGrant | None = None
    ) -> tuple[bool, OwedBonus | None]:
        """Take the member's treat of ``year`` and owe its bonus, in one transaction.

        (``False``, ``None``) if the treat was taken before (by anyone).
        """
        now = self._clock()
        async with self._database.transaction() as tx:
            changed = await tx.execute(
                "INSERT INTO birthday_treats (member_code, year, birthday, claimed_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (member_code, year) DO NOTHING",
                (member_code, year, birthday.isoformat(), to_text(now)),
            )
            if not changed:
                return False, None
            if bonus is None:
                return True, None
            owed = await owe_bonus(
                tx,
                key=f"birthday:{member_code}:{year}",
                member_code=member_code,
                campaign_id=bonus.campaign_id,
                amount=bonus.amount,
                label="Birthday treat",
                now=now,
            )
        return True, owed

    async def greeted(self, member_code: str, year: int) -> None:
        await self._database.execute(
            "UPDATE birthday_treats SET greeted_at = ? WHERE member_code = ? AND year = ?",
            (to_text(self._clock()), member_code, year),
        )

    async def retake_ungreeted(
        self, month_days: Collection[str], year: int, *, claimed_before: dt.datetime
    ) -> list[BirthdayMember]:
        """Treats of today claimed before ``claimed_before`` whose greeting never went out
        (the process died between claim and send): taken again, one worker each."""
        marks = ",".join("?" * len(month_days))
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT member_links.telegram_user_id, member_links.member_code, "
                "member_links.first_name, birthday_treats.birthday, user_languages.language "
                "FROM birthday_treats JOIN member_links "
                "ON member_links.member_code = birthday_treats.member_code "
                "LEFT JOIN user_languages "
                "ON user_languages.telegram_user_id = member_links.telegram_user_id "
                f"WHERE birthday_treats.year = ? AND substr(birthday_treats.birthday, 6, 5) "
                f"IN ({marks}) AND birthday_treats.greeted_at IS NULL "
                "AND birthday_treats.claimed_at < ? ORDER BY birthday_treats.member_code",
                (year, *month_days, to_text(claimed_before)),
            )
            for row in rows:
                await tx.execute(
                    "UPDATE birthday_treats SET claimed_at = ? WHERE member_code = ? AND year = ?",
                    (now, row["member_code"], year),
                )
        return [_member_from_row(row) for row in rows]

    async def treats(self, member_code: str) -> list[int]:
        """The years the member had a treat, oldest first."""
        rows = await self._database.fetch_all(
            "SELECT year FROM birthday_treats WHERE member_code = ? ORDER BY year",
            (member_code,),
        )
        return [int(row["year"]) for row in rows]
