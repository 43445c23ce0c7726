"""Balance taps on the bot built from several git revisions side by side, rounds alternating.

Run: ``python bench/chat_ab.py REV [REV ...] [--rounds 6] [--taps 10] [--users 40]``, e.g.
``python bench/chat_ab.py HEAD~1 HEAD``. Each revision is exported (``git archive``) and runs as
its own ``loyalty-bot run`` with its own Client Toolbox sandbox and Bot API stand-in
(``bench/chat_load.py``'s), all started before the first round, with the echo bot of
``bench/telegram_floor.py`` beside them. Then each round sends ``--taps`` balance taps by
``--users`` users to every bot in turn (the order reversed every other round), so a busy
moment of a shared machine falls on all of them alike instead of on one run. Prints, per bot,
the CPU ms per update (best and median of the rounds) and answers per second (median).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import chat_load as load  # noqa: E402


@dataclass
class Contender:
    name: str
    process: load.Process
    users: list[load.User]
    wanted: load.Predicate
    cpu_ms: list[float]
    rates: list[float]


def export(revision: str, folder: Path) -> Path:
    """The revision's files in ``folder`` (nothing of the work tree's changes)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
    ).stdout
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


async def start_bot(
    stack: contextlib.AsyncExitStack, name: str, tree: Path, folder: Path, users: int
) -> Contender:
    telegram = load.BotApiStandIn()
    url = await stack.enter_async_context(load.serve(telegram.app()))
    sandbox_url, _ = await stack.enter_async_context(load.platform_sandbox(folder, 0.0))
    environment = load.bot_environment(folder, url, sandbox_url) | {"PYTHONPATH": str(tree)}
    log = folder / "bot.log"
    bot = load.Process([sys.executable, "-m", "bot", "run"], folder, environment, log)
    stack.callback(bot.stop)
    await load.wait_until_polling(telegram, bot, log)
    people = [load.User(telegram, 100_000 + n) for n in range(users)]
    await asyncio.gather(*(load.join(user) for user in people))
    wanted = load.starts("⭐")
    await asyncio.gather(*(load.balance_taps(3, wanted)(user) for user in people))
    return Contender(name, bot, people, wanted, [], [])


async def start_floor(stack: contextlib.AsyncExitStack, folder: Path, users: int) -> Contender:
    telegram = load.BotApiStandIn()
    url = await stack.enter_async_context(load.serve(telegram.app()))
    log = folder / "floor.log"
    floor = load.Process(
        [sys.executable, str(ROOT / "bench" / "telegram_floor.py"), load.TOKEN, url],
        folder,
        os.environ | {"PYTHONPATH": str(ROOT)},
        log,
    )
    stack.callback(floor.stop)
    await load.wait_until_polling(telegram, floor, log)
    people = [load.User(telegram, 100_000 + n) for n in range(users)]
    await asyncio.gather(*(load.balance_taps(3, load.anything)(user) for user in people))
    return Contender("echo (floor)", floor, people, load.anything, [], [])


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            contenders = []
            for number, revision in enumerate(args.revisions):
                tree = export(revision, root / f"tree{number}")
                folder = root / f"run{number}"
                folder.mkdir()
                contenders.append(await start_bot(stack, revision, tree, folder, args.users))
            floor_folder = root / "floor"
            floor_folder.mkdir()
            contenders.append(await start_floor(stack, floor_folder, args.users))
            for turn in range(args.rounds):
                for contender in contenders if turn % 2 == 0 else contenders[::-1]:
                    result = await load.measure(
                        contender.name,
                        contender.users,
                        contender.process,
                        load.balance_taps(args.taps, contender.wanted),
                        args.taps,
                    )
                    contender.cpu_ms.append(result.cpu_ms_per_update)
                    contender.rates.append(len(result.latencies) / result.seconds)
    floor = contenders[-1]
    print(f"\n{args.users} users, {args.taps} balance taps each, {args.rounds} rounds")
    print(f"{'bot':<24} {'CPU ms best':>11} {'median':>7} {'x echo':>7} {'answers/s':>9}")
    for contender in contenders:
        median = statistics.median(contender.cpu_ms)
        times = median / statistics.median(floor.cpu_ms)
        print(
            f"{contender.name:<24} {min(contender.cpu_ms):>11.2f} {median:>7.2f}"
            f" {times:>7.2f} {statistics.median(contender.rates):>9.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions (HEAD, a commit, a tag)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--taps", type=int, default=10)
    parser.add_argument("--users", type=int, default=40)
    asyncio.run(main(parser.parse_args()))
