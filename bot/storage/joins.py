"""Joins accepted while the platform was down, kept until they are completed exactly once.

The member code is chosen before the first platform call and stored with the join, so every
retry asks the platform for the same member and a retry can never create a second one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from bot.storage.database import Repository, Row, from_row
from bot.storage.timestamps import to_text


@dataclass(frozen=True, slots=True)
class PendingJoin:
    telegram_user_id: int
    member_code: str
    payload_json: str
    created_at: dt.datetime
    attempts: int
    next_attempt_at: dt.datetime


class JoinConflict(Exception):
    """The member code already belongs to another user's pending join."""


def _join_from_row(row: Row) -> PendingJoin:
    return from_row(
        PendingJoin,
        row,
        moments=("created_at", "next_attempt_at"),
        payload_json=row["payload"],
    )


class PendingJoins(Repository):
    async def put(self, telegram_user_id: int, member_code: str, payload_json: str) -> PendingJoin:
        """Keep a join to complete later; due at once.

        If the user already has a pending join, that one is returned unchanged and the
        caller must carry on with its member code, never the new one.
        """
        if not member_code:
            raise ValueError("member_code must not be empty")
        try:
            json.loads(payload_json)
        except ValueError as exc:
            raise ValueError(f"payload_json is not valid JSON: {exc}") from exc
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                "SELECT * FROM pending_joins WHERE telegram_user_id = ?", (telegram_user_id,)
            )
            if row is not None:
                return _join_from_row(row)
            taken = await tx.fetch_one(
                "SELECT telegram_user_id FROM pending_joins WHERE member_code = ?",
                (member_code,),
            )
            if taken is not None:
                raise JoinConflict(
                    f"member code {member_code} is pending for Telegram user "
                    f"{taken['telegram_user_id']}"
                )
            row = await tx.fetch_one(
                "INSERT INTO pending_joins "
                "(telegram_user_id, member_code, payload, created_at, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING *",
                (telegram_user_id, member_code, payload_json, now, now),
            )
        assert row is not None
        return _join_from_row(row)

    async def get(self, telegram_user_id: int) -> PendingJoin | None:
        return await self._database.fetch_one_as(
            _join_from_row,
            "SELECT * FROM pending_joins WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )

    async def list_due(
        self, now: dt.datetime | None = None, limit: int = 100
    ) -> list[PendingJoin]:
        """Joins whose next attempt is due, oldest first."""
        return await self._database.fetch_all_as(
            _join_from_row,
            "SELECT * FROM pending_joins WHERE next_attempt_at <= ? "
            "ORDER BY created_at, telegram_user_id LIMIT ?",
            (to_text(now or self._clock()), limit),
        )

    async def take_due(self, retry_at: dt.datetime, limit: int = 100) -> list[PendingJoin]:
        """Take up to ``limit`` due joins for this worker in one statement, oldest first, by
        moving their next attempt to ``retry_at``. Replicas sweeping at once take different
        joins: on PostgreSQL a join another replica is taking is skipped, not waited for."""
        now = to_text(self._clock())
        rows = await self._database.fetch_all(
            "UPDATE pending_joins SET next_attempt_at = ? WHERE telegram_user_id IN ("
            "SELECT telegram_user_id FROM pending_joins WHERE next_attempt_at <= ? "
            f"ORDER BY created_at, telegram_user_id LIMIT ?{self._database.skip_locked}) "
            "AND next_attempt_at <= ? RETURNING *",
            (to_text(retry_at), now, limit, now),
        )
        taken = [_join_from_row(row) for row in rows]
        return sorted(taken, key=lambda join: (join.created_at, join.telegram_user_id))

    async def claim_due(self, telegram_user_id: int, retry_at: dt.datetime) -> bool:
        """Take a due join for one worker: of several replicas retrying joins in the background,
        only the one whose update moves ``next_attempt_at`` past now goes on with it."""
        row = await self._database.fetch_one(
            "UPDATE pending_joins SET next_attempt_at = ? "
            "WHERE telegram_user_id = ? AND next_attempt_at <= ? RETURNING telegram_user_id",
            (to_text(retry_at), telegram_user_id, to_text(self._clock())),
        )
        return row is not None

    async def record_attempt(self, telegram_user_id: int, retry_at: dt.datetime) -> int | None:
        """Count an attempt about to be made; hide the join from ``list_due`` until ``retry_at``.

        With a ``retry_at`` past the platform call's timeout, a second worker cannot take the
        same join meanwhile, and a failed attempt is retried no sooner than ``retry_at``.
        Returns the attempts so far, ``None`` if the join is no longer pending.
        """
        row = await self._database.fetch_one(
            "UPDATE pending_joins SET attempts = attempts + 1, next_attempt_at = ? "
            "WHERE telegram_user_id = ? RETURNING attempts",
            (to_text(retry_at), telegram_user_id),
        )
        return None if row is None else int(row["attempts"])

    async def complete(self, telegram_user_id: int, member_code: str | None = None) -> bool:
        """Mark the join done and drop its payload. True only for the one call that did it.

        With ``member_code``, only a join for that member is completed, so a late worker
        cannot complete a newer join of the same user.
        """
        removed = await self._database.execute(
            "DELETE FROM pending_joins WHERE telegram_user_id = ? "
            "AND (CAST(? AS TEXT) IS NULL OR member_code = ?)",
            (telegram_user_id, member_code, member_code),
        )
        return removed > 0
