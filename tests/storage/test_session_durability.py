"""What the SQLite session storage acknowledges is on disk: kill -9 loses none of it.

A child process runs 40 users, each stepping a conversation as fast as it can (state and data
of step N) and printing ``user step`` once ``set_data`` returns. The parent kills it with
SIGKILL in the middle and opens the file again: every user's stored step is at least the last
one the child acknowledged, and state and data agree. One process owns a file's sessions.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.storage import open_database
from bot.storage.fsm import SQLiteStorage
from bot.storage.ownership import SessionsTaken, claim_sessions

PROJECT_ROOT = Path(__file__).resolve().parents[2]
USERS = 40

STEPPER = textwrap.dedent(
    """
    import asyncio, sys
    from aiogram.fsm.storage.base import StorageKey
    from bot.storage import open_database
    from bot.storage.fsm import SQLiteStorage

    async def main(path):
        storage = SQLiteStorage(await open_database(path))
        async def user(n):
            key = StorageKey(bot_id=1, chat_id=n, user_id=n)
            step = 0
            while True:
                step += 1
                await storage.set_state(key, f"Flow:step{step}")
                await storage.set_data(key, {"step": step, "note": "x" * (step % 50)})
                sys.stdout.write(f"{n} {step}\\n")
                sys.stdout.flush()
        await asyncio.gather(*(user(n) for n in range(1, USERS + 1)))

    asyncio.run(main(sys.argv[1]))
    """
).replace("USERS", str(USERS))


async def run_until_killed(path: Path, acknowledgements: int) -> dict[int, int]:
    """Start the stepper, read ``acknowledgements`` lines, SIGKILL it; the last step per user."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        STEPPER,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert process.stdout is not None
    acknowledged: dict[int, int] = {}
    try:
        for _ in range(acknowledgements):
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line, "the stepper stopped by itself"
            user, step = map(int, line.split())
            acknowledged[user] = step
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    return acknowledged


@pytest.mark.parametrize("acknowledgements", [500, 2500])
async def test_acknowledged_writes_survive_kill_9(tmp_path: Path, acknowledgements: int) -> None:
    path = tmp_path / "sessions.db"
    await (await open_database(path)).close()  # created and migrated before the race
    acknowledged = await run_until_killed(path, acknowledgements)
    assert len(acknowledged) == USERS

    storage = SQLiteStorage(await open_database(path), owns_database=True)
    try:
        for user, step in acknowledged.items():
            key = StorageKey(bot_id=1, chat_id=user, user_id=user)
            data = await storage.get_data(key)
            state = await storage.get_state(key)
            assert data["step"] >= step, f"user {user}: step {step} was acknowledged, then lost"
            assert state is not None
            # The state of step N is written before its data: it is N or one ahead.
            assert int(state.removeprefix("Flow:step")) in (data["step"], data["step"] + 1)
    finally:
        await storage.close()


async def test_one_process_owns_the_sessions_of_a_file(tmp_path: Path) -> None:
    path = str(tmp_path / "bot.db")
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, time\n"
        "from bot.storage.ownership import claim_sessions\n"
        "claim = claim_sessions(sys.argv[1]); print('claimed', flush=True); time.sleep(60)",
        path,
        stdout=asyncio.subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"claimed\n"
        with pytest.raises(SessionsTaken, match="REDIS_URL"):
            claim_sessions(path)
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    # The kernel dropped the claim with the killed process: a restart is not blocked.
    claim = claim_sessions(path)
    with pytest.raises(SessionsTaken):
        claim_sessions(path)
    claim.release()
    claim_sessions(path).release()
