"""Which platform member a Telegram account is, the language it chose, and erasing both.

One Telegram account is linked to at most one member and one member to at most one account.
The language lives in its own table so that a visitor who has not joined keeps their choice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.storage.database import Repository, Row, from_row
from bot.storage.inbox import erase_set_aside_updates
from bot.storage.links import erase_link_data
from bot.storage.outbox import erase_member_messages
from bot.storage.referrals import erase_referral_data
from bot.storage.session_cache import forget_sessions
from bot.storage.timestamps import from_text, to_text

_USER_TABLES = (
    "member_links",
    "user_languages",
    "email_codes",
    "pending_joins",
    "notification_settings",
)


@dataclass(frozen=True, slots=True)
class MemberLink:
    telegram_user_id: int
    member_code: str
    card_number: str
    first_name: str
    linked_at: dt.datetime


class LinkConflict(Exception):
    """The account is linked to another member, or the member to another account."""

    def __init__(self, requested: MemberLink, existing: MemberLink) -> None:
        if existing.telegram_user_id == requested.telegram_user_id:
            reason = f"Telegram user {requested.telegram_user_id} is linked to another member"
        else:
            reason = f"member {requested.member_code} is linked to another Telegram user"
        super().__init__(reason)
        self.requested = requested
        self.existing = existing


def _link_from_row(row: Row) -> MemberLink:
    return from_row(MemberLink, row, moments=("linked_at",))


class MemberLinks(Repository):
    async def get(self, telegram_user_id: int) -> MemberLink | None:
        """Read for every update (``look_up``)."""
        row = await self._database.look_up(
            "SELECT * FROM member_links WHERE telegram_user_id = ?", (telegram_user_id,)
        )
        return None if row is None else _link_from_row(row)

    async def get_by_member(self, member_code: str) -> MemberLink | None:
        return await self._database.fetch_one_as(
            _link_from_row, "SELECT * FROM member_links WHERE member_code = ?", (member_code,)
        )

    async def link(
        self,
        telegram_user_id: int,
        member_code: str,
        *,
        card_number: str = "",
        first_name: str = "",
    ) -> MemberLink:
        """Link the account to the member; raises ``LinkConflict`` if either is taken.

        Linking the same pair again refreshes card number and first name and keeps the
        original ``linked_at``.
        """
        if not member_code:
            raise ValueError("member_code must not be empty")
        requested = MemberLink(
            telegram_user_id=telegram_user_id,
            member_code=member_code,
            card_number=card_number,
            first_name=first_name,
            linked_at=self._clock(),
        )
        async with self._database.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT * FROM member_links WHERE telegram_user_id = ? OR member_code = ?",
                (telegram_user_id, member_code),
            )
            for row in rows:
                existing = _link_from_row(row)
                if (existing.telegram_user_id, existing.member_code) != (
                    telegram_user_id,
                    member_code,
                ):
                    raise LinkConflict(requested, existing)
            if rows:
                await tx.execute(
                    "UPDATE member_links SET card_number = ?, first_name = ? "
                    "WHERE telegram_user_id = ?",
                    (card_number, first_name, telegram_user_id),
                )
                linked_at = from_text(rows[0]["linked_at"])
                return MemberLink(
                    telegram_user_id, member_code, card_number, first_name, linked_at
                )
            await tx.execute(
                "INSERT INTO member_links "
                "(telegram_user_id, member_code, card_number, first_name, linked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    telegram_user_id,
                    member_code,
                    card_number,
                    first_name,
                    to_text(requested.linked_at),
                ),
            )
        return requested

    async def update(
        self,
        telegram_user_id: int,
        *,
        card_number: str | None = None,
        first_name: str | None = None,
    ) -> MemberLink | None:
        """Refresh what the bot remembers of its member; ``None`` leaves a field as it is."""
        async with self._database.transaction() as tx:
            await tx.execute(
                "UPDATE member_links SET card_number = coalesce(?, card_number), "
                "first_name = coalesce(?, first_name) WHERE telegram_user_id = ?",
                (card_number, first_name, telegram_user_id),
            )
            row = await tx.fetch_one(
                "SELECT * FROM member_links WHERE telegram_user_id = ?", (telegram_user_id,)
            )
        return None if row is None else _link_from_row(row)

    async def unlink(self, telegram_user_id: int) -> bool:
        """Remove the link; the language choice stays. True if there was a link."""
        removed = await self._database.execute(
            "DELETE FROM member_links WHERE telegram_user_id = ?", (telegram_user_id,)
        )
        return removed > 0

    async def get_language(self, telegram_user_id: int) -> str | None:
        """Read for every update (``look_up``)."""
        row = await self._database.look_up(
            "SELECT language FROM user_languages WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )
        return None if row is None else str(row["language"])

    async def set_language(self, telegram_user_id: int, language: str) -> None:
        if not language:
            raise ValueError("language must not be empty")
        await self._database.execute(
            "INSERT INTO user_languages (telegram_user_id, language, chosen_at) "
            "VALUES (?, ?, ?) ON CONFLICT (telegram_user_id) DO UPDATE SET "
            "language = excluded.language, chosen_at = excluded.chosen_at",
            (telegram_user_id, language, to_text(self._clock())),
        )

    async def forget(self, telegram_user_id: int) -> int:
        """Erase everything the bot keeps about the user, in every table, in one transaction.

        That is the link, the language, a pending email code, a pending join, the user's
        FSM state and data in every chat, the cached images of the linked card, their
        signup-link data (``erase_link_data``), invite data (``erase_referral_data``) and the
        messages queued or sent to them (``erase_member_messages``) and any update of theirs
        set aside (``erase_set_aside_updates``); the birthday goes with the link.
        Returns the number of rows erased.
        """
        erased = 0
        async with self._database.transaction() as tx:
            link = await tx.fetch_one(
                "SELECT card_number, member_code FROM member_links WHERE telegram_user_id = ?",
                (telegram_user_id,),
            )
            erased += await erase_link_data(
                tx, telegram_user_id, None if link is None else link["member_code"]
            )
            erased += await erase_referral_data(
                tx, telegram_user_id, None if link is None else link["member_code"]
            )
            erased += await erase_member_messages(tx, telegram_user_id)
            erased += await erase_set_aside_updates(tx, telegram_user_id)
            if link is not None and link["card_number"]:
                erased += await tx.execute(
                    "DELETE FROM card_images WHERE card_number = ?", (link["card_number"],)
                )
            for table in _USER_TABLES:
                erased += await tx.execute(
                    f"DELETE FROM {table} WHERE telegram_user_id = ?", (telegram_user_id,)
                )
            # chat_id equal to the user's id is their private chat, whatever the FSM strategy.
            erased += await tx.execute(
                "DELETE FROM fsm_records WHERE user_id = ? OR chat_id = ?",
                (telegram_user_id, telegram_user_id),
            )
        forget_sessions(self._database, telegram_user_id)
        return erased
