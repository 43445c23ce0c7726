"""``loyalty-bot import`` killed with SIGKILL in the middle of its requests, at seeded random
points, then run again (with and without ``--resend-in-doubt``): the platform ends with exactly
the members and transactions of a clean run, nothing doubled, nothing lost. On both platforms.

The kill comes from the sandbox itself, on the n-th request of a run that changes something:
either before the platform handles it (the request is lost) or after the platform committed it
and before the answer leaves (the import never learns it landed). Both leave the chunk in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox import altcraft as altcraft_sandbox
from bot.sandbox.clienttoolbox import create_app as create_clienttoolbox
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.faults import Handler
from bot.sandbox.runner import serve
from tests.e2e.conftest import clean_environment
from tests.importing.conftest import FAST, altcraft_settings, clienttoolbox_settings
from tests.importing.exports import member_phone, write_csv
from tests.importing.history import CAMPAIGNS, History, card_of

DOMAIN = "crash.example.com"
CHECKOUT = Path(__file__).resolve().parents[2]
CLIENTTOOLBOX_WRITES = frozenset({"customers_batch", "batch_transactions"})
ALTCRAFT_WRITES = ("/profiles/add", "/register_member_batch", "/accrue_points", "/redeeme_points")
ALTCRAFT_POINTS = "points"


@dataclass(frozen=True)
class Shape:
    """How big the files are and how hard the runs are cut, per platform."""

    cards: int
    cardless: int
    rows: int
    chunk: int
    kill_within: int
    """A run is killed at one of its first ``kill_within`` changing requests."""


SHAPES = {
    "clienttoolbox": Shape(cards=150, cardless=30, rows=1_200, chunk=30, kill_within=4),
    # Altcraft takes a request per profile and per transaction: smaller files, later kills.
    "altcraft": Shape(cards=60, cardless=15, rows=400, chunk=15, kill_within=40),
}


@dataclass
class Killer:
    """Kills the import process on the chosen changing request of each run."""

    platform: str
    pid: int = 0
    kill_at: int = 0
    """Which changing request of this run (1-based); 0: none."""
    after: bool = False
    """Kill once the platform has handled the request (else before)."""
    seen: int = 0
    kills: list[tuple[int, bool]] = field(default_factory=list)

    def arm(self, pid: int, kill_at: int, after: bool) -> None:
        self.pid, self.kill_at, self.after, self.seen = pid, kill_at, after, 0

    async def _changes(self, request: web.Request) -> bool:
        if self.platform == "altcraft":
            return request.path.endswith(ALTCRAFT_WRITES)
        form = await request.post()
        return str(form.get("type", "")) in CLIENTTOOLBOX_WRITES

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.pid or not await self._changes(request):
            return await handler(request)
        self.seen += 1
        if self.seen != self.kill_at:
            return await handler(request)
        pid, after = self.pid, self.after
        self.pid = 0
        self.kills.append((self.kill_at, after))
        response = await handler(request) if after else web.Response(status=503)
        os.kill(pid, signal.SIGKILL)
        # The answer must not reach the process before the signal does.
        await asyncio.sleep(0.2)
        return response


@dataclass
class Platform:
    name: str
    url: str
    killer: Killer
    app: web.Application
    client: ClientToolboxClient | AltcraftClient
    database: Path

    def environment(self) -> dict[str, str]:
        if self.name == "altcraft":
            return {
                "PLATFORM": "altcraft",
                "ALTCRAFT__URL": f"{self.url}/api/v1.1/",
                "ALTCRAFT__TOKEN": altcraft_sandbox.demo.TOKEN,
                "ALTCRAFT__LOYALTY_PROGRAM_ID": str(altcraft_sandbox.demo.PROGRAM_ID),
                "ALTCRAFT__PROFILES_DB_ID": str(altcraft_sandbox.demo.DB_ID),
            }
        return {
            "PLATFORM": "clienttoolbox",
            "CLIENTTOOLBOX__URL": f"{self.url}/api.php",
            "CLIENTTOOLBOX__ACCOUNT_ID": demo.ACCOUNT_ID,
            "CLIENTTOOLBOX__USER_ID": demo.USER_ID,
            "CLIENTTOOLBOX__USER_API_KEY": demo.API_KEY,
        }


@pytest.fixture(params=["clienttoolbox", "altcraft"])
async def platforms(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, Platform]]:
    """Three sandboxes of one platform: for the clean run, and one per way of running again."""
    kind = str(request.param)
    async with contextlib.AsyncExitStack() as stack:
        opened: dict[str, Platform] = {}
        for name in ("clean", "plain", "resend"):
            killer = Killer(kind)
            client: ClientToolboxClient | AltcraftClient
            if kind == "altcraft":
                app = altcraft_sandbox.create_app(tmp_path / f"{name}-sandbox.db")
                app.middlewares.append(killer.middleware)
                url = await stack.enter_async_context(serve(app))
                client = AltcraftClient(altcraft_settings(url), FAST)
            else:
                app = create_clienttoolbox(tmp_path / f"{name}-sandbox.db")
                app.middlewares.append(killer.middleware)
                url = await stack.enter_async_context(serve(app))
                client = ClientToolboxClient(clienttoolbox_settings(url), FAST)
            stack.push_async_callback(client.aclose)
            database = tmp_path / name / "loyalty-bot.db"
            database.parent.mkdir()
            opened[name] = Platform(kind, url, killer, app, client, database)
        yield opened


def campaigns_of(platform: str) -> tuple[str, ...]:
    return (ALTCRAFT_POINTS,) if platform == "altcraft" else CAMPAIGNS


def files(tmp_path: Path, platform: str, shape: Shape) -> tuple[Path, Path]:
    carded = (
        [card_of(n), f"Crash{n}", f"crash{n}@{DOMAIN}", member_phone(n)]
        for n in range(shape.cards)
    )
    cardless = (
        ["", f"Cardless{n}", f"cardless{n}@{DOMAIN}", member_phone(shape.cards + n)]
        for n in range(shape.cardless)
    )
    members = write_csv(
        tmp_path / "members.csv",
        ["Card", "First name", "E-mail", "Phone number"],
        [*carded, *cardless],
    )
    history = History(shape.rows, shape.cards, seed=7, campaigns=campaigns_of(platform))
    return members, history.write(tmp_path / "history.csv")


async def run(platform: Platform, *argv: str, kill_at: int = 0, after: bool = False) -> int:
    env = clean_environment()
    env.update(platform.environment())
    env["PYTHONPATH"] = str(CHECKOUT)
    env["DATABASE"] = str(platform.database)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "import",
        *argv,
        env=env,
        cwd=platform.database.parent.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    platform.killer.arm(process.pid, kill_at, after)
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    # A run that ended before its kill point (fewer requests than chosen) finished.
    platform.killer.pid = 0
    assert process.returncode in (0, -signal.SIGKILL), err.decode() + out.decode()
    return process.returncode


async def import_with_kills(
    platform: Platform,
    argv: Sequence[str],
    chance: random.Random,
    *,
    resend: bool,
    kills: int,
    kill_within: int,
) -> int:
    """Run until a run finishes; the first ``kills`` runs are killed at random requests."""
    for attempt in range(kills + 5):
        extra = ["--resend-in-doubt"] if resend and attempt else []
        if attempt < kills:
            code = await run(
                platform,
                *argv,
                *extra,
                kill_at=chance.randint(1, kill_within),
                after=chance.random() < 0.5,
            )
        else:
            code = await run(platform, *argv, *extra)
        if code == 0:
            return attempt
    raise AssertionError("the import never finished")


Snapshot = tuple[Counter[str], Counter[tuple[object, ...]]]


async def snapshot(platform: Platform, shape: Shape) -> Snapshot:
    """Members (by email, so generated cards do not matter) and every transaction of the carded
    members: what two runs must agree on."""
    client = platform.client
    semaphore = asyncio.Semaphore(8)
    if isinstance(client, ClientToolboxClient):
        profiles = await client.customer_search(email=f"@{DOMAIN}")
        members = Counter(profile.email for profile in profiles)
    else:
        store = platform.app[altcraft_sandbox.STORE]
        emails = [f"crash{n}@{DOMAIN}" for n in range(shape.cards)]
        emails += [f"cardless{n}@{DOMAIN}" for n in range(shape.cardless)]
        members = Counter()
        for email in emails:
            if await client.find_member_by_email(email) is not None:
                members[email] += 1
        # Every profile of the database, demo ones included: a second profile for a row shows.
        members["(profiles in the database)"] = store.count_profiles(altcraft_sandbox.demo.DB_ID)

    async def of_card(number: int) -> list[tuple[object, ...]]:
        async with semaphore:
            return await transactions_of(client, number)

    transactions: Counter[tuple[object, ...]] = Counter()
    for rows in await asyncio.gather(*(of_card(number) for number in range(shape.cards))):
        transactions.update(rows)
    return members, transactions


async def transactions_of(
    client: ClientToolboxClient | AltcraftClient, number: int
) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    if isinstance(client, AltcraftClient):
        member = await client.find_member_by_card(card_of(number))
        assert member is not None
        history = await client.history(member.code, limit=10_000)
        eids = await client.transaction_eids(card_of(number))
        found.append((number, "external ids", tuple(sorted(eids or ()))))
        return found + [
            (number, tx.is_redemption, Decimal(tx.amount), tx.at.date(), tx.description)
            for tx in history
        ]
    for campaign in CAMPAIGNS:
        statement = await client.campaign_history(card_of(number), campaign)
        assert statement is not None
        found.extend(
            (number, campaign, tx.is_redemption, Decimal(tx.amount), tx.at.date(), tx.description)
            for tx in statement
        )
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_imports_killed_at_random_points_end_exactly_like_a_clean_run(
    platforms: dict[str, Platform], tmp_path: Path
) -> None:
    clean = platforms["clean"]
    shape = SHAPES[clean.name]
    members, history = files(tmp_path, clean.name, shape)
    chunk = str(shape.chunk)
    campaigns = ",".join(campaigns_of(clean.name))
    member_args = ["members", str(members), "--chunk-size", chunk, "--campaigns", campaigns]
    history_args = ["transactions", str(history), "--chunk-size", chunk]

    assert await run(clean, *member_args) == 0
    assert await run(clean, *history_args) == 0
    expected_members, expected_transactions = await snapshot(clean, shape)

    async def crash_and_resume(name: str, resend: bool) -> tuple[int, Snapshot]:
        platform = platforms[name]
        chance = random.Random(f"{clean.name}-{name}-12")
        options = {"resend": resend, "kills": 2, "kill_within": shape.kill_within}
        killed = await import_with_kills(platform, member_args, chance, **options)
        killed += await import_with_kills(platform, history_args, chance, **options)
        return killed, await snapshot(platform, shape)

    # The two ways of running again are independent: side by side, on their own sandboxes.
    outcomes = await asyncio.gather(
        crash_and_resume("plain", False), crash_and_resume("resend", True)
    )

    for name, (killed, (got_members, got_transactions)) in zip(
        ("plain", "resend"), outcomes, strict=True
    ):
        kills = platforms[name].killer.kills
        # A run whose kill point lies past its last request simply finishes.
        assert killed >= 3 and len(kills) == killed, (name, kills)
        assert got_members == expected_members, name
        assert sum(1 for email in got_members if "@" in email) == shape.cards + shape.cardless
        assert {got_members[email] for email in got_members if "@" in email} == {1}
        assert got_transactions == expected_transactions, name
    imported = [key for key in expected_transactions if str(key[-1]).startswith("receipt")]
    assert len(imported) == shape.rows
