"""What a conversation step costs in each session storage, against aiogram's own storages.

Run: ``python bench/session_storage.py [--steps N] [--users U]``

One step is what a handler of a multi-step flow does: read the state, merge a field into the
data, set the next state. ``U`` users step concurrently (as updates of different users are
handled). Measured in the same run: aiogram's ``MemoryStorage`` (the floor: a dict in this
process) and aiogram's ``RedisStorage`` on a local ``redis-server`` (the storage of several
replicas, with the bot's key builder; skipped when the binary is missing), beside the bot's
``SQLiteStorage`` (WAL; every write committed before it returns, concurrent writes sharing a
commit, reads from its write-through cache). Ratios are steps per second against memory and
against Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from aiogram.fsm.storage.base import BaseStorage, StorageKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.storage.backends import BackendFactory, memory_backend, redis_backend, sqlite_backend


async def steps_per_second(storage: BaseStorage, steps: int, users: int) -> float:
    async def user(user_id: int, count: int) -> None:
        key = StorageKey(bot_id=42, chat_id=user_id, user_id=user_id)
        for step in range(count):
            await storage.get_state(key)
            await storage.update_data(key, {f"field{step % 5}": f"value {step}"})
            await storage.set_state(key, f"ProfileEditing:step{step % 5}")

    started = time.perf_counter()
    await asyncio.gather(*(user(u, steps // users) for u in range(1, users + 1)))
    return (steps // users * users) / (time.perf_counter() - started)


async def main(steps: int, users: int) -> None:
    storages: dict[str, BackendFactory] = {
        "aiogram MemoryStorage (floor)": memory_backend,
        "bot SQLiteStorage": sqlite_backend,
    }
    if shutil.which("redis-server"):
        storages["aiogram RedisStorage (replicas)"] = redis_backend
    else:
        print("redis-server not installed: RedisStorage not measured")
    results: dict[str, float] = {}
    for name, factory in storages.items():
        with tempfile.TemporaryDirectory() as folder:
            async with factory(Path(folder)) as storage:
                await steps_per_second(storage, min(steps, 500), users)  # warm up
                results[name] = await steps_per_second(storage, steps, users)
    floor = results["aiogram MemoryStorage (floor)"]
    redis = results.get("aiogram RedisStorage (replicas)")
    print(f"{steps} conversation steps by {users} concurrent users")
    print(f"{'storage':<34} {'steps/s':>10} {'vs memory':>10} {'vs Redis':>9} {'µs/step':>9}")
    for name, rate in results.items():
        versus_redis = f"{rate / redis:>9.2f}" if redis else f"{'—':>9}"
        print(f"{name:<34} {rate:>10,.0f} {rate / floor:>10.3f} {versus_redis} {1e6 / rate:>9.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--users", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.steps, arguments.users))
