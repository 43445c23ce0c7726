"""Signup links: the links themselves, every ``/start`` that carried a payload, the join each
link brought in, the signup bonus it paid, and the member's first-touch attribution.

A link is found by the SHA-256 of its token (``token_digest``) and the token is then compared
with ``hmac.compare_digest`` by the caller, so no string comparison on the secret runs in
SQL. A use is claimed with one conditional ``UPDATE`` inside ``BEGIN IMMEDIATE``, so
``max_uses`` holds however many joins (or processes) race for the last use. A bonus row is
unique per member and campaign and is written before the platform is asked to pay it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Generic, Protocol, TypeVar

from bot.storage.database import Repository, Row, SQLValue, Transaction, from_row
from bot.storage.timestamps import from_text, to_text

LINKS_SECRET = "signup-links"
"""Name of the per-installation HMAC key in ``installation_secrets``."""


class LinkOutcome(StrEnum):
    """What a ``/start <payload>`` turned out to be; every one is counted."""

    VALID = "valid"
    MEMBER = "member"
    """A valid link opened by someone already in: the menu, nothing credited."""
    FORGED = "forged"
    """Not a token this installation signed (edited, typed, from elsewhere)."""
    UNKNOWN = "unknown"
    """Signed, but no such link here."""
    EXPIRED = "expired"
    DISABLED = "disabled"
    USED_UP = "used_up"


class BonusState(StrEnum):
    IN_CREATE = "in_create"
    """Sent as the new member's ``auto_add``; settled when the join completes."""
    SENDING = "sending"
    DOUBT = "doubt"
    """The platform could not be reached: whether it paid is unknown until checked."""
    CREDITED = "credited"
    FAILED = "failed"
    """The platform refused it; nothing was paid."""


_OWED = "(state = ? OR (state = ? AND updated_at < ?))"
"""A bonus to settle: in doubt, or a send older than the cut-off (its worker died)."""


def _owed_params(stale_before: dt.datetime) -> tuple[str, str, str]:
    return (BonusState.DOUBT.value, BonusState.SENDING.value, to_text(stale_before))


B = TypeVar("B")


class OwedBonusRows(Repository, Generic[B]):
    """The calls of ``bot.services.owed_bonuses.BonusStore`` on one table of bonuses owed
    (``signup_bonuses``, ``owed_bonuses``), so that one payer settles both. A subclass names
    the table and its key columns (attributes of the same names on ``B``) and reads a row."""

    _owed_table: ClassVar[str]
    _owed_key: ClassVar[tuple[str, ...]]

    @staticmethod
    def _owed_from_row(row: Row) -> B:
        raise NotImplementedError

    def _owed_where(self, bonus: B) -> tuple[str, tuple[SQLValue, ...]]:
        """``WHERE`` words picking ``bonus``'s row, and their parameters."""
        where = " AND ".join(f"{column} = ?" for column in self._owed_key)
        return where, tuple(getattr(bonus, column) for column in self._owed_key)

    async def bonus_outcome(self, bonus: B, state: BonusState) -> None:
        where, key = self._owed_where(bonus)
        await self._database.execute(
            f"UPDATE {self._owed_table} SET state = ?, updated_at = ? WHERE {where}",
            (state.value, to_text(self._clock()), *key),
        )

    async def bonuses_owed(
        self, *, stale_before: dt.datetime, member_code: str | None = None, limit: int = 50
    ) -> list[B]:
        """Bonuses in doubt, and sends that never reported back (older than ``stale_before``)."""
        return await self._database.fetch_all_as(
            self._owed_from_row,
            f"SELECT * FROM {self._owed_table} WHERE {_OWED} "
            "AND (CAST(? AS TEXT) IS NULL OR member_code = ?) ORDER BY updated_at LIMIT ?",
            (*_owed_params(stale_before), member_code, member_code, limit),
        )

    async def take_owed_batch(
        self, *, stale_before: dt.datetime, member_code: str | None = None, limit: int = 50
    ) -> list[B]:
        """Take up to ``limit`` bonuses to settle for one retry each, in one statement, by
        moving them to ``sending``. Two workers never hold one bonus; on PostgreSQL one being
        taken by another replica is skipped."""
        table, key = self._owed_table, ", ".join(self._owed_key)
        return await self._database.fetch_all_as(
            self._owed_from_row,
            f"UPDATE {table} SET state = ?, updated_at = ? WHERE ({key}) IN (SELECT {key} "
            f"FROM {table} WHERE {_OWED} AND (CAST(? AS TEXT) IS NULL OR member_code = ?) "
            f"ORDER BY updated_at LIMIT ?{self._database.skip_locked}) AND {_OWED} RETURNING *",
            (
                BonusState.SENDING.value,
                to_text(self._clock()),
                *_owed_params(stale_before),
                member_code,
                member_code,
                limit,
                *_owed_params(stale_before),
            ),
        )

    async def take_owed(self, bonus: B, *, stale_before: dt.datetime) -> B | None:
        """Take an owed bonus for one retry; ``None`` if another worker holds it.

        A bonus in doubt is taken by moving it to ``sending``; one already ``sending`` only
        once its send is older than ``stale_before`` (its worker died), so two workers can
        never both hold it.
        """
        where, key = self._owed_where(bonus)
        return await self._database.fetch_one_as(
            self._owed_from_row,
            f"UPDATE {self._owed_table} SET state = ?, updated_at = ? "
            f"WHERE {where} AND {_OWED} RETURNING *",
            (
                BonusState.SENDING.value,
                to_text(self._clock()),
                *key,
                *_owed_params(stale_before),
            ),
        )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: int
    token: str
    campaign_id: str | None
    source: str
    bonus: Decimal | None
    expires_at: dt.datetime | None
    max_uses: int | None
    uses: int
    disabled: bool
    note: str
    member_code: str | None
    created_at: dt.datetime

    def refusal(self, now: dt.datetime) -> LinkOutcome | None:
        """Why the link cannot bring a signup in now, or ``None`` if it can."""
        return link_refusal(self, now)


class LinkTerms(Protocol):
    """What decides whether a link can still bring a signup in."""

    @property
    def disabled(self) -> bool: ...
    @property
    def expires_at(self) -> dt.datetime | None: ...
    @property
    def max_uses(self) -> int | None: ...
    @property
    def uses(self) -> int: ...


def link_refusal(link: LinkTerms, now: dt.datetime) -> LinkOutcome | None:
    """Why ``link`` cannot bring a signup in now, or ``None`` if it can."""
    if link.disabled:
        return LinkOutcome.DISABLED
    if link.expires_at is not None and now >= link.expires_at:
        return LinkOutcome.EXPIRED
    if link.max_uses is not None and link.uses >= link.max_uses:
        return LinkOutcome.USED_UP
    return None


def _link_from_row(row: Row) -> LinkRecord:
    return from_row(
        LinkRecord,
        row,
        moments=("expires_at", "created_at"),
        bonus=None if row["bonus"] is None else Decimal(row["bonus"]),
        disabled=row["disabled_at"] is not None,
    )


@dataclass(frozen=True, slots=True)
class NewLink:
    token: str
    campaign_id: str | None
    source: str
    bonus: Decimal | None = None
    expires_at: dt.datetime | None = None
    max_uses: int | None = None
    note: str = ""
    member_code: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A use of a link taken for a join in progress."""

    signup_id: int
    link: LinkRecord
    planned_member_code: str
    bonus_in_create: bool
    """The bonus rides on the new member's create (``auto_add``)."""


@dataclass(frozen=True, slots=True)
class BonusDue:
    """A bonus row the caller must now ask the platform to pay (state ``sending``)."""

    member_code: str
    campaign_id: str
    amount: Decimal
    marker: str
    """Written as the transaction's description, so a retry can see whether it was paid."""
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SettledSignup:
    link: LinkRecord
    credited_in_create: Decimal | None
    due: BonusDue | None


@dataclass(frozen=True, slots=True)
class DailyCount:
    link_id: int | None
    day: dt.date
    what: str
    """A ``LinkOutcome`` value, ``signup`` or ``bonus``."""
    count: int


def _bonus_from_row(row: Row) -> BonusDue:
    return from_row(BonusDue, row, moments=("updated_at",), amount=Decimal(row["amount"]))


def _optional_text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else to_text(moment)


_USABLE = (
    "disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
    "AND (max_uses IS NULL OR uses < max_uses)"
)


class LinkRepository(OwedBonusRows[BonusDue]):
    _owed_table = "signup_bonuses"
    _owed_key = ("member_code", "campaign_id")
    _owed_from_row = staticmethod(_bonus_from_row)

    async def installation_secret(self, name: str = LINKS_SECRET) -> bytes:
        """The installation's random key of that name, made on first use (race-safe)."""
        async with self._database.transaction() as tx:
            await tx.execute(
                "INSERT INTO installation_secrets (name, value, created_at) "
                "VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_hex(32), to_text(self._clock())),
            )
            row = await tx.fetch_one(
                "SELECT value FROM installation_secrets WHERE name = ?", (name,)
            )
        assert row is not None
        return bytes.fromhex(row["value"])

    async def add(self, link: NewLink) -> LinkRecord:
        async with self._database.transaction() as tx:
            return await self._insert(tx, link)

    async def _insert(self, tx: Transaction, link: NewLink) -> LinkRecord:
        row = await tx.fetch_one(
            "INSERT INTO signup_links (token, token_digest, campaign_id, source, bonus, "
            "expires_at, max_uses, note, member_code, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                link.token,
                token_digest(link.token),
                link.campaign_id,
                link.source,
                None if link.bonus is None else str(link.bonus),
                _optional_text(link.expires_at),
                link.max_uses,
                link.note,
                link.member_code,
                to_text(self._clock()),
            ),
        )
        assert row is not None
        return _link_from_row(row)

    async def usable_or_add(self, link: NewLink) -> LinkRecord:
        """The newest usable shared link of ``link.source``, else ``link`` added."""
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                f"SELECT * FROM signup_links WHERE source = ? AND member_code IS NULL "
                f"AND {_USABLE} ORDER BY id DESC LIMIT 1",
                (link.source, to_text(self._clock())),
            )
            if row is not None:
                return _link_from_row(row)
            return await self._insert(tx, link)

    async def by_digest(self, digest: str) -> LinkRecord | None:
        return await self._database.fetch_one_as(
            _link_from_row, "SELECT * FROM signup_links WHERE token_digest = ?", (digest,)
        )

    async def by_id(self, link_id: int) -> LinkRecord | None:
        return await self._database.fetch_one_as(
            _link_from_row, "SELECT * FROM signup_links WHERE id = ?", (link_id,)
        )

    async def all(self, *, personal: bool = False) -> list[LinkRecord]:
        return await self._database.fetch_all_as(
            _link_from_row,
            "SELECT * FROM signup_links WHERE (? = 1 OR member_code IS NULL) ORDER BY id",
            (int(personal),),
        )

    async def disable(self, digest: str) -> LinkRecord | None:
        """Disable the link; the first disabling time is kept."""
        return await self._database.fetch_one_as(
            _link_from_row,
            "UPDATE signup_links SET disabled_at = coalesce(disabled_at, ?) "
            "WHERE token_digest = ? RETURNING *",
            (to_text(self._clock()), digest),
        )

    async def record_attempt(
        self,
        outcome: LinkOutcome,
        *,
        telegram_user_id: int | None,
        link_id: int | None = None,
        visit: bool = False,
    ) -> int:
        """Count a ``/start`` with a payload; with ``visit``, keep the link for the user's join.

        A visit replaces the user's earlier one: the last link opened before joining counts.
        """
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                "INSERT INTO link_attempts (link_id, telegram_user_id, outcome, at) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (link_id, telegram_user_id, outcome.value, now),
            )
            assert row is not None
            attempt_id = int(row["id"])
            if visit:
                if link_id is None or telegram_user_id is None:
                    raise ValueError("a visit needs a link and a user")
                await tx.execute(
                    "INSERT INTO link_visits (telegram_user_id, link_id, attempt_id, opened_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (telegram_user_id) DO UPDATE SET "
                    "link_id = excluded.link_id, attempt_id = excluded.attempt_id, "
                    "opened_at = excluded.opened_at",
                    (telegram_user_id, link_id, attempt_id, now),
                )
        return attempt_id

    async def visit(self, telegram_user_id: int) -> LinkRecord | None:
        """The link the user opened and has not joined through yet."""
        return await self._database.fetch_one_as(
            _link_from_row,
            "SELECT signup_links.* FROM link_visits JOIN signup_links "
            "ON signup_links.id = link_visits.link_id WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )

    async def claim(
        self,
        telegram_user_id: int,
        planned_member_code: str,
        *,
        bonus_campaigns: Collection[str] = (),
    ) -> Claim | None:
        """Take a use of the user's visited link for their join, once.

        The link's bonus rides on the new member's create when its campaign is one of
        ``bonus_campaigns``; otherwise it is paid after the join, if at all.

        Called again for the same join (a retry), it answers the claim already taken. A link
        that can no longer be used (expired, disabled, used up meanwhile) claims nothing: the
        visit's attempt is recounted with that outcome and the visit dropped.
        """
        now = self._clock()
        async with self._database.transaction() as tx:
            held = await tx.fetch_one(
                "SELECT * FROM link_signups WHERE telegram_user_id = ? AND state = 'claimed'",
                (telegram_user_id,),
            )
            if held is not None:
                link_row = await tx.fetch_one(
                    "SELECT * FROM signup_links WHERE id = ?", (held["link_id"],)
                )
                assert link_row is not None
                return Claim(
                    signup_id=held["id"],
                    link=_link_from_row(link_row),
                    planned_member_code=held["planned_member_code"],
                    bonus_in_create=bool(held["bonus_in_create"]),
                )
            visit = await tx.fetch_one(
                "SELECT * FROM link_visits WHERE telegram_user_id = ?", (telegram_user_id,)
            )
            if visit is None:
                return None
            await tx.execute(
                "DELETE FROM link_visits WHERE telegram_user_id = ?", (telegram_user_id,)
            )
            link_row = await tx.fetch_one(
                f"UPDATE signup_links SET uses = uses + 1 WHERE id = ? AND {_USABLE} RETURNING *",
                (visit["link_id"], to_text(now)),
            )
            if link_row is None:
                stale = await tx.fetch_one(
                    "SELECT * FROM signup_links WHERE id = ?", (visit["link_id"],)
                )
                refusal = None if stale is None else _link_from_row(stale).refusal(now)
                await tx.execute(
                    "UPDATE link_attempts SET outcome = ? WHERE id = ?",
                    ((refusal or LinkOutcome.UNKNOWN).value, visit["attempt_id"]),
                )
                return None
            link = _link_from_row(link_row)
            with_bonus = _pays_bonus(link) and link.campaign_id in bonus_campaigns
            row = await tx.fetch_one(
                "INSERT INTO link_signups (link_id, attempt_id, telegram_user_id, "
                "planned_member_code, bonus_in_create, state, claimed_at) "
                "VALUES (?, ?, ?, ?, ?, 'claimed', ?) RETURNING id",
                (
                    link.id,
                    visit["attempt_id"],
                    telegram_user_id,
                    planned_member_code,
                    int(with_bonus),
                    to_text(now),
                ),
            )
            assert row is not None
            signup_id = int(row["id"])
            if with_bonus:
                assert link.campaign_id is not None and link.bonus is not None
                await tx.execute(
                    "INSERT INTO signup_bonuses (member_code, campaign_id, signup_id, amount, "
                    "state, marker, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        planned_member_code,
                        link.campaign_id,
                        signup_id,
                        str(link.bonus),
                        BonusState.IN_CREATE.value,
                        _marker(),
                        to_text(now),
                    ),
                )
        return Claim(signup_id, link, planned_member_code, with_bonus)

    async def settle(
        self, telegram_user_id: int, member_code: str, *, created: bool
    ) -> SettledSignup | None:
        """The user's claimed join is done: record member, attribution and the bonus's fate.

        A bonus that rode on the member's create is credited; otherwise a bonus row for the
        member and campaign is taken, unless the member already has one (then nothing is due).
        """
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            held = await tx.fetch_one(
                "SELECT * FROM link_signups WHERE telegram_user_id = ? AND state = 'claimed'",
                (telegram_user_id,),
            )
            if held is None:
                return None
            link_row = await tx.fetch_one(
                "SELECT * FROM signup_links WHERE id = ?", (held["link_id"],)
            )
            assert link_row is not None
            link = _link_from_row(link_row)
            signup_id = held["id"]
            await tx.execute(
                "UPDATE link_signups SET state = 'joined', member_code = ?, joined_at = ? "
                "WHERE id = ?",
                (member_code, now, signup_id),
            )
            await _attribute(tx, member_code, link, now)
            if not _pays_bonus(link):
                return SettledSignup(link, None, None)
            assert link.campaign_id is not None and link.bonus is not None
            in_create = (
                bool(held["bonus_in_create"])
                and created
                and member_code == held["planned_member_code"]
            )
            if in_create:
                changed = await tx.execute(
                    "UPDATE signup_bonuses SET state = ?, updated_at = ? "
                    "WHERE signup_id = ? AND member_code = ? AND state = ?",
                    (
                        BonusState.CREDITED.value,
                        now,
                        signup_id,
                        member_code,
                        BonusState.IN_CREATE.value,
                    ),
                )
                return SettledSignup(link, link.bonus if changed else None, None)
            await tx.execute(
                "DELETE FROM signup_bonuses WHERE signup_id = ? AND state = ?",
                (signup_id, BonusState.IN_CREATE.value),
            )
            row = await tx.fetch_one(
                "INSERT INTO signup_bonuses (member_code, campaign_id, signup_id, amount, state, "
                "marker, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (member_code, campaign_id) DO NOTHING RETURNING *",
                (
                    member_code,
                    link.campaign_id,
                    signup_id,
                    str(link.bonus),
                    BonusState.SENDING.value,
                    _marker(),
                    now,
                ),
            )
        return SettledSignup(link, None, None if row is None else _bonus_from_row(row))

    async def claimed_by(self, telegram_user_id: int) -> str | None:
        """The planned member code of the user's join still claimed (not settled), if any."""
        row = await self._database.fetch_one(
            "SELECT planned_member_code FROM link_signups "
            "WHERE telegram_user_id = ? AND state = 'claimed'",
            (telegram_user_id,),
        )
        return None if row is None else str(row["planned_member_code"])

    async def bonus_state(self, member_code: str, campaign_id: str) -> BonusState | None:
        row = await self._database.fetch_one(
            "SELECT state FROM signup_bonuses WHERE member_code = ? AND campaign_id = ?",
            (member_code, campaign_id),
        )
        return None if row is None else BonusState(row["state"])

    async def claim_personal(
        self, link_id: int, telegram_user_id: int, attempt_id: int | None
    ) -> LinkRecord | None:
        """Use a personal link up for the user, recorded as a finished join; once only."""
        now = self._clock()
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                f"UPDATE signup_links SET uses = uses + 1 WHERE id = ? "
                f"AND member_code IS NOT NULL AND {_USABLE} RETURNING *",
                (link_id, to_text(now)),
            )
            if row is None:
                return None
            link = _link_from_row(row)
            assert link.member_code is not None
            await tx.execute(
                "INSERT INTO link_signups (link_id, attempt_id, telegram_user_id, "
                "planned_member_code, member_code, state, claimed_at, joined_at) "
                "VALUES (?, ?, ?, ?, ?, 'joined', ?, ?)",
                (
                    link.id,
                    attempt_id,
                    telegram_user_id,
                    link.member_code,
                    link.member_code,
                    to_text(now),
                    to_text(now),
                ),
            )
            await _attribute(tx, link.member_code, link, to_text(now))
        return link

    async def release_personal(self, link_id: int, telegram_user_id: int) -> None:
        """Give a personal link's use back when the account could not be linked after all."""
        async with self._database.transaction() as tx:
            removed = await tx.execute(
                "DELETE FROM link_signups WHERE link_id = ? AND telegram_user_id = ?",
                (link_id, telegram_user_id),
            )
            if removed:
                await tx.execute(
                    "UPDATE signup_links SET uses = uses - 1 WHERE id = ? AND uses > 0",
                    (link_id,),
                )
                await tx.execute(
                    "DELETE FROM member_attributions WHERE link_id = ? AND member_code = ("
                    "SELECT member_code FROM signup_links WHERE id = ?)",
                    (link_id, link_id),
                )

    async def attribution(self, member_code: str) -> tuple[LinkRecord, dt.datetime] | None:
        """The link that first brought the member in, and when."""
        row = await self._database.fetch_one(
            "SELECT signup_links.*, member_attributions.attributed_at AS attributed_at "
            "FROM member_attributions JOIN signup_links "
            "ON signup_links.id = member_attributions.link_id "
            "WHERE member_attributions.member_code = ?",
            (member_code,),
        )
        return None if row is None else (_link_from_row(row), from_text(row["attributed_at"]))

    async def daily_counts(self) -> list[DailyCount]:
        """Attempts by outcome, joins and bonuses credited, per link and UTC day."""
        rows = await self._database.fetch_all(
            "SELECT link_id, substr(at, 1, 10) AS day, outcome AS what, count(*) AS n "
            "FROM link_attempts GROUP BY link_id, day, outcome "
            "UNION ALL "
            "SELECT link_id, substr(joined_at, 1, 10), 'signup', count(*) "
            "FROM link_signups WHERE state = 'joined' GROUP BY link_id, 2 "
            "UNION ALL "
            "SELECT link_signups.link_id, substr(signup_bonuses.updated_at, 1, 10), 'bonus', "
            "count(*) FROM signup_bonuses JOIN link_signups "
            "ON link_signups.id = signup_bonuses.signup_id WHERE signup_bonuses.state = ? "
            "GROUP BY link_signups.link_id, 2",
            (BonusState.CREDITED.value,),
        )
        return [
            DailyCount(
                link_id=row["link_id"],
                day=dt.date.fromisoformat(row["day"]),
                what=row["what"],
                count=row["n"],
            )
            for row in rows
        ]

    async def links_by_id(self, link_ids: Sequence[int]) -> dict[int, LinkRecord]:
        if not link_ids:
            return {}
        marks = ",".join("?" * len(link_ids))
        rows = await self._database.fetch_all(
            f"SELECT * FROM signup_links WHERE id IN ({marks})", tuple(link_ids)
        )
        return {row["id"]: _link_from_row(row) for row in rows}


def _pays_bonus(link: LinkRecord) -> bool:
    return link.bonus is not None and link.bonus > 0 and link.campaign_id is not None


def _marker() -> str:
    return f"Signup bonus #{secrets.token_hex(5)}"


async def _attribute(tx: Transaction, member_code: str, link: LinkRecord, now: str) -> None:
    # First touch wins: a member already attributed keeps the link that brought them in.
    await tx.execute(
        "INSERT INTO member_attributions (member_code, link_id, attributed_at) "
        "VALUES (?, ?, ?) ON CONFLICT (member_code) DO NOTHING",
        (member_code, link.id, now),
    )


async def erase_link_data(tx: Transaction, telegram_user_id: int, member_code: str | None) -> int:
    """For "forget me": drop the user's pending link and the member's attribution, and take
    the user (and member) out of the counted attempts and joins, which stay for the stats.

    The bonus rows stay: they hold only a member code, a campaign and an amount, and are
    what keeps a bonus from being paid twice. Returns the number of rows erased or changed.
    """
    erased = await tx.execute(
        "DELETE FROM link_visits WHERE telegram_user_id = ?", (telegram_user_id,)
    )
    erased += await tx.execute(
        "UPDATE link_attempts SET telegram_user_id = NULL WHERE telegram_user_id = ?",
        (telegram_user_id,),
    )
    erased += await tx.execute(
        "UPDATE link_signups SET telegram_user_id = NULL, planned_member_code = NULL, "
        "member_code = NULL WHERE telegram_user_id = ? "
        "OR (CAST(? AS TEXT) IS NOT NULL AND member_code = ?)",
        (telegram_user_id, member_code, member_code),
    )
    if member_code is not None:
        erased += await tx.execute(
            "DELETE FROM member_attributions WHERE member_code = ?", (member_code,)
        )
    return erased
