"""``loyalty-bot import`` killed with SIGKILL in the middle of its requests, at seeded random
points, then run again (with and without ``--resend-in-doubt``): the platform ends with exactly
the members and transactions of a clean run, nothing doubled, nothing lost.

The kill comes from the sandbox itself, on the n-th batch request of a run: either before the
platform handles it (the request is lost) or after the platform committed it and before the
answer leaves (the import never learns it landed). Both leave the chunk in doubt.
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

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.clienttoolbox import create_app, demo
from bot.sandbox.faults import Handler
from bot.sandbox.runner import serve
from tests.e2e.conftest import clean_environment
from tests.importing.conftest import FAST, clienttoolbox_settings
from tests.importing.exports import member_phone, write_csv
from tests.importing.history import CAMPAIGNS, History, card_of

CARDS = 150
CARDLESS = 30
ROWS = 1_200
DOMAIN = "crash.example.com"
BATCH_CALLS = frozenset({"customers_batch", "batch_transactions"})
CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass
class Killer:
    """Kills the import process on the chosen batch request of each run."""

    pid: int = 0
    kill_at: int = 0
    """Which batch request of this run (1-based); 0: none."""
    after: bool = False
    """Kill once the platform has handled the request (else before)."""
    seen: int = 0
    kills: list[tuple[int, bool]] = field(default_factory=list)

    def arm(self, pid: int, kill_at: int, after: bool) -> None:
        self.pid, self.kill_at, self.after, self.seen = pid, kill_at, after, 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post()
        if str(form.get("type", "")) not in BATCH_CALLS or not self.pid:
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
    url: str
    killer: Killer
    client: ClientToolboxClient
    database: Path


@pytest.fixture
async def platforms(tmp_path: Path) -> AsyncIterator[dict[str, Platform]]:
    """Three sandboxes: one for the clean run, one per way of running again."""
    async with contextlib.AsyncExitStack() as stack:
        opened: dict[str, Platform] = {}
        for name in ("clean", "plain", "resend"):
            killer = Killer()
            app = create_app(tmp_path / f"{name}-sandbox.db")
            app.middlewares.append(killer.middleware)
            url = await stack.enter_async_context(serve(app))
            client = ClientToolboxClient(clienttoolbox_settings(url), FAST)
            stack.push_async_callback(client.aclose)
            opened[name] = Platform(url, killer, client, tmp_path / name / "loyalty-bot.db")
        yield opened


def files(tmp_path: Path) -> tuple[Path, Path]:
    carded = (
        [card_of(n), f"Crash{n}", f"crash{n}@{DOMAIN}", member_phone(n)] for n in range(CARDS)
    )
    cardless = (
        ["", f"Cardless{n}", f"cardless{n}@{DOMAIN}", member_phone(CARDS + n)]
        for n in range(CARDLESS)
    )
    members = write_csv(
        tmp_path / "members.csv",
        ["Card", "First name", "E-mail", "Phone number"],
        [*carded, *cardless],
    )
    history = History(ROWS, CARDS, seed=7).write(tmp_path / "history.csv")
    return members, history


async def run(platform: Platform, *argv: str, kill_at: int = 0, after: bool = False) -> int:
    env = clean_environment()
    env.update(
        {
            "PYTHONPATH": str(CHECKOUT),
            "PLATFORM": "clienttoolbox",
            "CLIENTTOOLBOX__URL": f"{platform.url}/api.php",
            "CLIENTTOOLBOX__ACCOUNT_ID": demo.ACCOUNT_ID,
            "CLIENTTOOLBOX__USER_ID": demo.USER_ID,
            "CLIENTTOOLBOX__USER_API_KEY": demo.API_KEY,
            "DATABASE": str(platform.database),
        }
    )
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
    assert process.returncode is not None
    if kill_at and process.returncode != -signal.SIGKILL:
        # The run ended before its kill point (fewer requests than chosen): a finished run.
        platform.killer.pid = 0
    assert process.returncode in (0, -signal.SIGKILL), err.decode() + out.decode()
    return process.returncode


async def import_with_kills(
    platform: Platform, argv: Sequence[str], chance: random.Random, *, resend: bool, kills: int
) -> int:
    """Run until a run finishes; the first ``kills`` runs are killed at random requests."""
    for attempt in range(kills + 5):
        extra = ["--resend-in-doubt"] if resend and attempt else []
        if attempt < kills:
            code = await run(
                platform,
                *argv,
                *extra,
                kill_at=chance.randint(1, 4),
                after=chance.random() < 0.5,
            )
        else:
            code = await run(platform, *argv, *extra)
        if code == 0:
            return attempt
    raise AssertionError("the import never finished")


async def snapshot(
    client: ClientToolboxClient,
) -> tuple[Counter[str], Counter[tuple[object, ...]]]:
    """Members (by email, so generated cards do not matter) and every transaction of the carded
    members: what two runs must agree on."""
    members = Counter(
        profile.email for profile in await client.customer_search(email=f"@{DOMAIN}")
    )
    semaphore = asyncio.Semaphore(8)

    async def of_card(number: int) -> list[tuple[object, ...]]:
        found: list[tuple[object, ...]] = []
        async with semaphore:
            for campaign in CAMPAIGNS:
                history = await client.campaign_history(card_of(number), campaign)
                assert history is not None
                found.extend(
                    (
                        number,
                        campaign,
                        tx.is_redemption,
                        Decimal(tx.amount),
                        tx.at.date(),
                        tx.description,
                    )
                    for tx in history
                )
        return found

    transactions: Counter[tuple[object, ...]] = Counter()
    for rows in await asyncio.gather(*(of_card(number) for number in range(CARDS))):
        transactions.update(rows)
    return members, transactions


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_imports_killed_at_random_points_end_exactly_like_a_clean_run(
    platforms: dict[str, Platform], tmp_path: Path
) -> None:
    members, history = files(tmp_path)
    member_args = [
        "members",
        str(members),
        "--chunk-size",
        "40",
        "--campaigns",
        ",".join(CAMPAIGNS),
    ]
    history_args = ["transactions", str(history), "--chunk-size", "30"]
    for platform in platforms.values():
        platform.database.parent.mkdir(parents=True)

    clean = platforms["clean"]
    assert await run(clean, *member_args) == 0
    assert await run(clean, *history_args) == 0
    expected_members, expected_transactions = await snapshot(clean.client)

    for name, resend in (("plain", False), ("resend", True)):
        platform = platforms[name]
        chance = random.Random(f"{name}-12")
        killed = await import_with_kills(platform, member_args, chance, resend=resend, kills=2)
        killed += await import_with_kills(platform, history_args, chance, resend=resend, kills=2)
        got_members, got_transactions = await snapshot(platform.client)

        # A run whose kill point lies past its last request simply finishes.
        assert killed >= 3 and len(platform.killer.kills) == killed, platform.killer.kills
        assert got_members == expected_members, name
        assert set(got_members.values()) == {1}
        assert len(got_members) == CARDS + CARDLESS
        assert got_transactions == expected_transactions, name
        imported = [key for key in expected_transactions if str(key[-1]).startswith("receipt")]
        assert len(imported) == ROWS
