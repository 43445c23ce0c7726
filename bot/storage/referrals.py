"""Invite a friend: each member's invite link, every opening of one, the visit a friend keeps
until they join, the referral that join became, and the bonuses it owes.

A referral is claimed inside ``BEGIN IMMEDIATE`` after counting the inviter's referrals of
the month, so the monthly cap holds however many friends (or processes) join at once. The
bonuses it owes are written in the same transaction that records the join (``owed_bonuses``,
keys ``referral:<id>:friend`` and ``referral:<id>:inviter``), before the platform is asked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.storage.bonuses import OwedBonus, owe_bonus
from bot.storage.database import Database, Repository, Transaction, from_row
from bot.storage.links import token_digest
from bot.storage.timestamps import to_text


class InviteOutcome(StrEnum):
    """What a ``/start`` with an invite-shaped payload turned out to be; every one is counted."""

    VALID = "valid"
    FORGED = "forged"
    """Not a token this installation signed."""
    UNKNOWN = "unknown"
    """Signed, but no member's invite link (erased with "forget me")."""
    SELF = "self"
    """The inviter opened their own link."""
    MEMBER = "member"
    """Someone already a member (by Telegram account, phone or email)."""
    CAP = "cap"
    """The inviter had as many friends this month as the cap allows."""


INVITE_IMAGE_PREFIX = "invite:"
"""The invite QR's key among the cached card images (``card_images``)."""

REFUSALS = frozenset({InviteOutcome.SELF, InviteOutcome.MEMBER, InviteOutcome.CAP})


@dataclass(frozen=True, slots=True)
class BonusGrant:
    """A bonus a referral owes: how much, in which campaign."""

    campaign_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class SettledReferral:
    referral_id: int
    inviter_code: str
    refusal: InviteOutcome | None
    friend_bonus: OwedBonus | None
    inviter_bonus: OwedBonus | None
    inviter_telegram_user_id: int | None
    """The inviter to tell (claimed now, once); ``None`` if not linked or already told."""
    inviter_language: str | None


@dataclass(frozen=True, slots=True)
class UnsentNotice:
    referral_id: int
    inviter_telegram_user_id: int
    inviter_language: str | None
    friend_name: str


@dataclass(frozen=True, slots=True)
class ReferralCount:
    month: str
    inviter_code: str
    what: str
    """An ``InviteOutcome`` value (an opening), ``joined``, ``refused:<why>`` or
    ``bonus:<friend|inviter>``."""
    count: int


def referral_bonus_key(referral_id: int, whose: str) -> str:
    return f"referral:{referral_id}:{whose}"


class ReferralRepository(Repository):
    async def invite_token(self, member_code: str, fresh_token: str) -> str:
        """The member's invite token; ``fresh_token`` becomes it the first time (race-safe)."""
        async with self._database.transaction() as tx:
            await tx.execute(
                "INSERT INTO invite_links (member_code, token, token_digest, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (member_code) DO NOTHING",
                (member_code, fresh_token, token_digest(fresh_token), to_text(self._clock())),
            )
            row = await tx.fetch_one(
                "SELECT token FROM invite_links WHERE member_code = ?", (member_code,)
            )
        assert row is not None
        return str(row["token"])

    async def by_digest(self, digest: str) -> tuple[str, str] | None:
        """(member code, token) of the invite link with this token digest."""
        row = await self._database.fetch_one(
            "SELECT member_code, token FROM invite_links WHERE token_digest = ?", (digest,)
        )
        return None if row is None else (str(row["member_code"]), str(row["token"]))

    async def record_attempt(
        self,
        outcome: InviteOutcome,
        *,
        month: str,
        telegram_user_id: int,
        inviter_code: str | None = None,
    ) -> None:
        """Count an opening; a ``VALID`` one is kept as the user's visit until they join (the
        last invite opened before joining counts)."""
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            await tx.execute(
                "INSERT INTO referral_attempts (inviter_code, telegram_user_id, outcome, month, "
                "at) VALUES (?, ?, ?, ?, ?)",
                (inviter_code, telegram_user_id, outcome.value, month, now),
            )
            if outcome is InviteOutcome.VALID:
                await tx.execute(
                    "INSERT INTO referral_visits (telegram_user_id, inviter_code, opened_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (telegram_user_id) DO UPDATE SET "
                    "inviter_code = excluded.inviter_code, opened_at = excluded.opened_at",
                    (telegram_user_id, inviter_code, now),
                )

    async def was_referred(self, telegram_user_id: int) -> bool:
        """The user already joined (or is joining) through an invite."""
        row = await self._database.fetch_one(
            "SELECT 1 FROM referrals WHERE telegram_user_id = ? AND state IN ('claimed', "
            "'joined')",
            (telegram_user_id,),
        )
        return row is not None

    async def friends_this_month(self, inviter_code: str, month: str) -> int:
        return await _friends(self._database, inviter_code, month)

    async def claim(
        self, telegram_user_id: int, planned_member_code: str, *, month: str, cap: int | None
    ) -> InviteOutcome | None:
        """Take the user's visited invite for the join about to be made.

        ``VALID``: a referral is claimed; ``CAP``: the inviter's month is full, recorded as a
        refusal the join's end reports; ``None``: no invite (or one already claimed, which a
        retry keeps). Counting and claiming happen in one write transaction.
        """
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            held = await tx.fetch_one(
                "SELECT state FROM referrals WHERE telegram_user_id = ? AND ("
                "state = 'claimed' OR (state = 'refused' AND settled_at IS NULL))",
                (telegram_user_id,),
            )
            if held is not None:
                return None
            visit = await tx.fetch_one(
                "SELECT inviter_code FROM referral_visits WHERE telegram_user_id = ?",
                (telegram_user_id,),
            )
            if visit is None:
                return None
            await tx.execute(
                "DELETE FROM referral_visits WHERE telegram_user_id = ?", (telegram_user_id,)
            )
            referred = await tx.fetch_one(
                "SELECT 1 FROM referrals WHERE telegram_user_id = ? AND state = 'joined'",
                (telegram_user_id,),
            )
            if referred is not None:
                return None
            inviter = str(visit["inviter_code"])
            full = cap is not None and await _friends(tx, inviter, month) >= cap
            await tx.execute(
                "INSERT INTO referrals (inviter_code, month, telegram_user_id, "
                "planned_member_code, state, refusal, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    inviter,
                    month,
                    telegram_user_id,
                    planned_member_code,
                    "refused" if full else "claimed",
                    InviteOutcome.CAP.value if full else None,
                    now,
                ),
            )
        return InviteOutcome.CAP if full else InviteOutcome.VALID

    async def settle(
        self,
        telegram_user_id: int,
        member_code: str,
        *,
        created: bool,
        friend_name: str,
        friend_bonus: BonusGrant | None,
        inviter_bonus: BonusGrant | None,
    ) -> SettledReferral | None:
        """The user's join is done: record the referral (or why it gives nothing), owe its
        bonuses and claim the inviter's notice, all in one transaction; once only."""
        now = self._clock()
        async with self._database.transaction() as tx:
            held = await tx.fetch_one(
                "SELECT * FROM referrals WHERE telegram_user_id = ? AND ("
                "state = 'claimed' OR (state = 'refused' AND settled_at IS NULL))",
                (telegram_user_id,),
            )
            if held is None:
                return None
            referral_id = int(held["id"])
            inviter = str(held["inviter_code"])
            refusal = None if held["refusal"] is None else InviteOutcome(held["refusal"])
            if refusal is None:
                if member_code == inviter:
                    refusal = InviteOutcome.SELF
                elif not created or await _was_referred(tx, member_code):
                    refusal = InviteOutcome.MEMBER
            await tx.execute(
                "UPDATE referrals SET state = ?, refusal = ?, friend_code = ?, friend_name = ?, "
                "settled_at = ? WHERE id = ?",
                (
                    "refused" if refusal else "joined",
                    None if refusal is None else refusal.value,
                    member_code,
                    friend_name,
                    to_text(now),
                    referral_id,
                ),
            )
            if refusal is not None:
                return SettledReferral(referral_id, inviter, refusal, None, None, None, None)
            owed: dict[str, OwedBonus | None] = {}
            for whose, code, grant in (
                ("friend", member_code, friend_bonus),
                ("inviter", inviter, inviter_bonus),
            ):
                owed[whose] = (
                    None
                    if grant is None
                    else await owe_bonus(
                        tx,
                        key=referral_bonus_key(referral_id, whose),
                        member_code=code,
                        campaign_id=grant.campaign_id,
                        amount=grant.amount,
                        label="Invite bonus",
                        now=now,
                    )
                )
            told = await tx.execute(
                "UPDATE referrals SET inviter_told_at = ? "
                "WHERE id = ? AND inviter_told_at IS NULL",
                (to_text(now), referral_id),
            )
            inviter_row = await tx.fetch_one(
                "SELECT member_links.telegram_user_id, user_languages.language "
                "FROM member_links LEFT JOIN user_languages "
                "ON user_languages.telegram_user_id = member_links.telegram_user_id "
                "WHERE member_links.member_code = ?",
                (inviter,),
            )
        inviter_user = None if not told or inviter_row is None else inviter_row[0]
        language = None if inviter_row is None else inviter_row[1]
        return SettledReferral(
            referral_id, inviter, None, owed["friend"], owed["inviter"], inviter_user, language
        )

    async def notice_sent(self, referral_id: int) -> None:
        await self._database.execute(
            "UPDATE referrals SET inviter_notice_sent_at = ? WHERE id = ?",
            (to_text(self._clock()), referral_id),
        )

    async def retake_unsent_notices(
        self, *, claimed_before: dt.datetime, claimed_after: dt.datetime, limit: int = 50
    ) -> list[UnsentNotice]:
        """Inviter notices claimed between the two moments that never went out (their sender
        died), taken again for one worker each; their inviter still linked."""
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT referrals.id, referrals.friend_name, member_links.telegram_user_id, "
                "user_languages.language FROM referrals JOIN member_links "
                "ON member_links.member_code = referrals.inviter_code "
                "LEFT JOIN user_languages "
                "ON user_languages.telegram_user_id = member_links.telegram_user_id "
                "WHERE referrals.state = 'joined' AND referrals.inviter_notice_sent_at IS NULL "
                "AND referrals.inviter_told_at < ? AND referrals.inviter_told_at > ? "
                "ORDER BY referrals.id LIMIT ?",
                (to_text(claimed_before), to_text(claimed_after), limit),
            )
            for row in rows:
                await tx.execute(
                    "UPDATE referrals SET inviter_told_at = ? WHERE id = ?", (now, row["id"])
                )
        return [
            UnsentNotice(
                referral_id=row["id"],
                inviter_telegram_user_id=row["telegram_user_id"],
                inviter_language=row["language"],
                friend_name=row["friend_name"],
            )
            for row in rows
        ]

    async def counts(self) -> list[ReferralCount]:
        """Openings by outcome, joins, refusals and credited bonuses, per inviter and month."""
        rows = await self._database.fetch_all(
            "SELECT month, inviter_code, outcome AS what, count(*) AS n FROM referral_attempts "
            "WHERE inviter_code IS NOT NULL GROUP BY month, inviter_code, outcome "
            "UNION ALL "
            "SELECT month, inviter_code, CASE state WHEN 'joined' THEN 'joined' "
            "ELSE 'refused:' || refusal END, count(*) FROM referrals "
            "WHERE state != 'claimed' GROUP BY month, inviter_code, 3 "
            "UNION ALL "
            "SELECT referrals.month, referrals.inviter_code, "
            "'bonus:' || substr(owed_bonuses.key, length('referral:' || referrals.id || ':') + 1),"
            " count(*) FROM owed_bonuses JOIN referrals "
            "ON owed_bonuses.key IN ('referral:' || referrals.id || ':friend', "
            "'referral:' || referrals.id || ':inviter') "
            "WHERE owed_bonuses.state = 'credited' GROUP BY 1, 2, 3"
        )
        return [from_row(ReferralCount, row, count=row["n"]) for row in rows]


async def _friends(db: Database | Transaction, inviter_code: str, month: str) -> int:
    row = await db.fetch_one(
        "SELECT count(*) AS n FROM referrals WHERE inviter_code = ? AND month = ? "
        "AND state IN ('claimed', 'joined')",
        (inviter_code, month),
    )
    assert row is not None
    return int(row["n"])


async def _was_referred(tx: Transaction, member_code: str) -> bool:
    row = await tx.fetch_one(
        "SELECT 1 FROM referrals WHERE friend_code = ? AND state = 'joined'", (member_code,)
    )
    return row is not None


async def erase_referral_data(
    tx: Transaction, telegram_user_id: int, member_code: str | None
) -> int:
    """For "forget me": the user's visit, their Telegram id and name in referrals and openings,
    and the member's invite link. Referrals stay (without the person) for the stats, the
    monthly cap and the bonuses' once-only keys."""
    erased = await tx.execute(
        "DELETE FROM referral_visits WHERE telegram_user_id = ?", (telegram_user_id,)
    )
    erased += await tx.execute(
        "UPDATE referral_attempts SET telegram_user_id = NULL WHERE telegram_user_id = ?",
        (telegram_user_id,),
    )
    # A join still in progress goes with the pending join; a finished one stays, anonymous.
    erased += await tx.execute(
        "DELETE FROM referrals WHERE telegram_user_id = ? AND settled_at IS NULL",
        (telegram_user_id,),
    )
    erased += await tx.execute(
        "UPDATE referrals SET telegram_user_id = NULL, friend_name = '' "
        "WHERE telegram_user_id = ?",
        (telegram_user_id,),
    )
    if member_code is not None:
        erased += await tx.execute(
            "DELETE FROM card_images WHERE card_number IN ("
            "SELECT ? || token FROM invite_links WHERE member_code = ?)",
            (INVITE_IMAGE_PREFIX, member_code),
        )
        erased += await tx.execute(
            "DELETE FROM invite_links WHERE member_code = ?", (member_code,)
        )
    return erased
