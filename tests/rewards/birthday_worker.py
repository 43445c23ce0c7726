"""A birthday job process for the crash test: one owed-bonus round and one run of the job at
the given time, greetings appended to a file (one line each, flushed and synced).

    python -m tests.rewards.birthday_worker DATABASE SANDBOX_URL NOW GREETINGS
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from decimal import Decimal
from pathlib import Path

from bot.config import HttpSettings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.services.birthdays import BirthdayGreeting, BirthdayTreats
from bot.services.catalog import CampaignCatalog
from bot.services.owed_bonuses import BonusPayer
from bot.storage.birthdays import BirthdayBook
from bot.storage.bonuses import OwedBonuses
from bot.storage.database import open_database
from tests.conftest import ct_settings

BONUS = Decimal(100)


async def main(database: Path, sandbox_url: str, now: dt.datetime, greetings: Path) -> None:
    def clock() -> dt.datetime:
        return now

    db = await open_database(database)
    backend = ClientToolboxClient(ct_settings(sandbox_url), HttpSettings())
    try:
        catalog = CampaignCatalog(backend, clock=clock)
        owed = OwedBonuses(db, clock=clock)
        payer = BonusPayer(owed, backend, catalog, clock=clock, name="birthday bonus")
        treats = BirthdayTreats(
            BirthdayBook(db, clock=clock), owed, payer, backend, catalog, bonus=BONUS, clock=clock
        )

        async def send(greeting: BirthdayGreeting) -> None:
            with greetings.open("a") as out:
                out.write(f"{greeting.telegram_user_id} {greeting.year}\n")
                out.flush()
                os.fsync(out.fileno())

        await payer.settle_owed()
        await treats.run(send)
    finally:
        await backend.aclose()
        await db.close()


if __name__ == "__main__":
    database, url, now, greetings = sys.argv[1:]
    asyncio.run(main(Path(database), url, dt.datetime.fromisoformat(now), Path(greetings)))
