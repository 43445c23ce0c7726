"""The world of the crash tests: a Client Toolbox sandbox in its own process (with latency),
the Bot API stand-in served by the test (it outlives the bot it serves), and real
``loyalty-bot run`` processes that the tests start, kill and start again."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.devtools.telegram_standin import STANDIN, DemoUser, TelegramStandIn, create_app
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.runner import serve
from tests.e2e.conftest import clean_environment
from tests.redis_server import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "5550001111:crash-safety"
STARTUP_SECONDS = 120.0


def members_to_be(count: int, first_id: int = 7_100_000_000) -> list[DemoUser]:
    return [
        DemoUser(first_id + n, f"Member{n}", "Burst", "", "en", f"+1312555{n:04d}")
        for n in range(count)
    ]


@asynccontextmanager
async def sandbox_process(folder: Path, latency: float) -> AsyncIterator[str]:
    """``loyalty-bot sandbox`` in its own process, answering after ``latency`` seconds."""
    port = free_port()
    with (folder / "sandbox.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "sandbox",
            "--port",
            str(port),
            "--db",
            str(folder / "clienttoolbox.db"),
            cwd=folder,
            env=clean_environment() | {"PYTHONPATH": str(PROJECT_ROOT)},
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient() as client, asyncio.timeout(STARTUP_SECONDS):
                while True:
                    try:
                        (await client.delete(f"{url}/_sandbox/faults")).raise_for_status()
                        break
                    except httpx.TransportError:
                        # A process that is starting has no event to wait on.
                        await asyncio.sleep(0.1)
                if latency:
                    answer = await client.post(f"{url}/_sandbox/faults", json={"latency": latency})
                    answer.raise_for_status()
            yield url
        finally:
            process.terminate()
            await process.wait()


def platform_phones(folder: Path) -> list[str]:
    """The phone of every member on the sandbox platform, read from its database."""
    with sqlite3.connect(folder / "clienttoolbox.db") as connection:
        return [row[0] for row in connection.execute("SELECT phone FROM customers")]


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


@asynccontextmanager
async def telegram(users: list[DemoUser]) -> AsyncIterator[tuple[TelegramStandIn, str]]:
    app = create_app(TOKEN, users=users)
    async with serve(app) as url:
        yield app[STANDIN], url


@dataclass
class BotRun:
    """One ``loyalty-bot run`` process."""

    process: asyncio.subprocess.Process
    stderr_path: Path
    stdout: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    async def stop(self, signum: int = signal.SIGINT, seconds: float = 60) -> int:
        self.process.send_signal(signum)
        return await asyncio.wait_for(self.process.wait(), seconds)

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()


def bot_environment(folder: Path, telegram_url: str, sandbox_url: str) -> dict[str, str]:
    return clean_environment() | {
        "PYTHONPATH": str(PROJECT_ROOT),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram_url,
        "PLATFORM": "clienttoolbox",
        "CLIENTTOOLBOX__URL": f"{sandbox_url}/api.php",
        "CLIENTTOOLBOX__ACCOUNT_ID": demo.ACCOUNT_ID,
        "CLIENTTOOLBOX__USER_ID": demo.USER_ID,
        "CLIENTTOOLBOX__USER_API_KEY": demo.API_KEY,
        "DATABASE": str(folder / "bot.db"),
    }


async def start_bot(
    folder: Path, standin: TelegramStandIn, environment: dict[str, str], name: str
) -> BotRun:
    """Start the bot and wait until it long-polls the stand-in."""
    launched = datetime.now(UTC)
    stderr_path = folder / f"{name}.log"
    with stderr_path.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--port",
            "0",
            cwd=folder,
            env=environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    run = BotRun(process, stderr_path)
    started = asyncio.create_task(
        standin.wait_for_call(
            "getUpdates",
            lambda call: call.at >= launched,
            timeout=STARTUP_SECONDS,
        )
    )
    ended = asyncio.create_task(process.wait())
    await asyncio.wait({started, ended}, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        started.cancel()
        raise AssertionError(f"the bot ended at start:\n{run.stderr[-3000:]}")
    ended.cancel()
    started.result()
    return run


def cards(standin: TelegramStandIn, user_id: int) -> int:
    return sum(1 for message in standin.messages(user_id) if message.photo)


async def wait_until_everyone_has_a_card(
    standin: TelegramStandIn, users: list[DemoUser], seconds: float
) -> None:
    def everyone() -> bool | None:
        return True if all(cards(standin, user.id) for user in users) else None

    try:
        await standin.wait_for(everyone, seconds)
    except TimeoutError:
        missing = [user.id for user in users if not cards(standin, user.id)]
        raise AssertionError(f"{len(missing)} users never got their card") from None


def bot_table(folder: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(folder / "bot.db") as connection:
        return list(connection.execute(sql))
