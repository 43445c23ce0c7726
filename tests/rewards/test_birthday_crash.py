"""The birthday job killed with SIGKILL while its bonus request is at the platform (before the
platform handles it, or after it did and before the answer leaves), then run again: the bonus
is credited exactly once, and the greeting goes out exactly once, on a later run."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import HttpSettings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember
from bot.sandbox.clienttoolbox import create_app
from bot.sandbox.faults import Handler
from bot.sandbox.runner import serve
from bot.storage.birthdays import BirthdayBook
from bot.storage.bonuses import OwedBonuses
from bot.storage.database import Database, open_database
from bot.storage.links import BonusState
from bot.storage.members import MemberLinks
from tests.conftest import ct_settings
from tests.e2e.conftest import clean_environment
from tests.rewards.conftest import BIRTHDAY_BONUS, POINTS, marked_credits, points

CHECKOUT = Path(__file__).resolve().parents[2]
BIRTHDAY = dt.date(1990, 3, 10)
ON_THE_DAY = dt.datetime(2027, 3, 10, 10, tzinfo=dt.UTC)
CODE = "7000000000000051"
KEY = f"birthday:{CODE}:2027"


@dataclass
class Killer:
    """Kills the worker on its bonus request: before the platform handles it, or after."""

    process: asyncio.subprocess.Process | None = None
    after: bool = False
    killed: int = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post()
        process = self.process
        if str(form.get("type", "")) != "record_activity" or process is None:
            return await handler(request)
        self.process = None
        response = await handler(request) if self.after else web.Response(status=503)
        process.send_signal(signal.SIGKILL)
        # The answer must not reach the worker before the signal does.
        await process.wait()
        self.killed += 1
        return response


@dataclass
class World:
    url: str
    killer: Killer
    client: ClientToolboxClient
    db: Database
    db_path: Path
    greetings: Path


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    killer = Killer()
    app = create_app(tmp_path / "sandbox.db")
    app.middlewares.append(killer.middleware)
    async with serve(app) as url:
        client = ClientToolboxClient(ct_settings(url), HttpSettings())
        db_path = tmp_path / "bot.db"
        db = await open_database(db_path)
        try:
            member = await client.enroll(
                NewMember(code=CODE, first_name="Jane", birthday=BIRTHDAY, campaign_ids=(POINTS,))
            )
            await MemberLinks(db).link(1001, member.code, first_name="Jane")
            await BirthdayBook(db).remember(member.code, BIRTHDAY)
            yield World(url, killer, client, db, db_path, tmp_path / "greetings.txt")
        finally:
            await db.close()
            await client.aclose()


async def run_worker(
    world: World, now: dt.datetime, *, kill: bool = False, after: bool = False
) -> int:
    env = clean_environment()
    env["PYTHONPATH"] = str(CHECKOUT)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.rewards.birthday_worker",
        str(world.db_path),
        world.url,
        now.isoformat(),
        str(world.greetings),
        env=env,
        cwd=CHECKOUT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if kill:
        world.killer.process, world.killer.after = process, after
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    assert process.returncode == (-signal.SIGKILL if kill else 0), err.decode() + out.decode()
    return process.returncode


def greetings(world: World) -> list[str]:
    return world.greetings.read_text().splitlines() if world.greetings.exists() else []


@pytest.mark.parametrize("after", [False, True], ids=["before-handled", "after-handled"])
async def test_killed_while_paying_the_bonus_once_and_the_greeting_once(
    world: World, after: bool
) -> None:
    owed = OwedBonuses(world.db)
    await run_worker(world, ON_THE_DAY, kill=True, after=after)

    assert world.killer.killed == 1
    assert await BirthdayBook(world.db).treats(CODE) == [2027]
    assert await owed.state(KEY) is BonusState.SENDING
    assert greetings(world) == []
    assert await points(world.client, CODE) == (BIRTHDAY_BONUS if after else 0)

    # Restarted a minute later: the send may still be under way elsewhere, so nothing moves.
    await run_worker(world, ON_THE_DAY + dt.timedelta(minutes=1))
    assert await owed.state(KEY) is BonusState.SENDING
    assert greetings(world) == []

    # Later that day: the history decides whether to pay, and the greeting goes out.
    await run_worker(world, ON_THE_DAY + dt.timedelta(minutes=10))

    assert await owed.state(KEY) is BonusState.CREDITED
    assert await points(world.client, CODE) == BIRTHDAY_BONUS
    assert len(await marked_credits(world.client, CODE, "Birthday treat")) == 1
    assert greetings(world) == ["1001 2027"]
