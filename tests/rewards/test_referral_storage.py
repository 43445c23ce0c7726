"""The monthly cap, claimed in the database: it holds across processes sharing one file, and a
month's refusals free nothing while a new month starts afresh. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.storage.database import open_database
from bot.storage.referrals import InviteOutcome, ReferralRepository

INVITER = "7000000000000001"


async def test_the_cap_holds_across_two_connections_racing_for_it(database_target: str) -> None:
    first, second = await open_database(database_target), await open_database(database_target)
    try:
        repositories = (ReferralRepository(first), ReferralRepository(second))
        for user_id in range(20):
            await repositories[0].record_attempt(
                InviteOutcome.VALID,
                month="2027-03",
                telegram_user_id=user_id,
                inviter_code=INVITER,
            )
        claims = await asyncio.gather(
            *(
                repositories[user_id % 2].claim(
                    user_id, f"{9000000000000000 + user_id}", month="2027-03", cap=3
                )
                for user_id in range(20)
            )
        )
        assert claims.count(InviteOutcome.VALID) == 3
        assert claims.count(InviteOutcome.CAP) == 17
        assert await repositories[1].friends_this_month(INVITER, "2027-03") == 3

        # A claim is taken once: a retried join claims nothing new.
        assert await repositories[0].claim(0, "9000000000000000", month="2027-03", cap=3) is None
        # Next month, the same inviter starts from nothing.
        await repositories[1].record_attempt(
            InviteOutcome.VALID, month="2027-04", telegram_user_id=100, inviter_code=INVITER
        )
        claim = await repositories[1].claim(100, "9000000000000100", month="2027-04", cap=3)
        assert claim is InviteOutcome.VALID
    finally:
        await first.close()
        await second.close()
