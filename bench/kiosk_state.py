"""What the kiosk's shared state costs per visit: Redis (several replicas) against this
process's memory (one process), measured in the same run.

Run: ``python bench/kiosk_state.py [--visits N] [--kiosks K]``

One visit is the state calls a kiosk visit makes, without the platform: the lookup limit
taken, the visit stored, three screen refreshes, a staff PIN try (claimed, then cleared as
right), the staff session opened and checked twice (record, redeem), and the visit ended with
the session closed. ``K`` kiosks run visits concurrently. Redis is a local ``redis-server``
on a free loopback port (skipped when the binary is missing). The PIN's scrypt is not
measured: it is the same in both and far dearer (~50 ms) than any of this.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.loyalty.models import Member
from bot.services.kiosk_state import KioskState, MemoryKioskState, PinAttemptCounter, Visit
from bot.storage.database import Database, open_database
from bot.storage.kiosk_state_redis import RedisKioskState
from bot.storage.kiosks import Kiosks
from tests.redis_server import redis_server

MEMBER = Member(
    code="7000000000000001",
    card_number="482100931174",
    first_name="Jane",
    phone="+12025550155",
    campaign_ids=("1", "2", "3"),
)
TTL = dt.timedelta(minutes=5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def one_visit(state: KioskState, pins: PinAttemptCounter, kiosk_id: int, n: int) -> None:
    lookups = state.window_limit("lookups", 1_000_000, dt.timedelta(minutes=1))
    await lookups.take(str(kiosk_id))
    token = f"visit-{kiosk_id}-{n}"
    await state.visits.put(token, Visit(kiosk_id, MEMBER, _now() + TTL))
    for _ in range(3):
        assert await state.visits.touch(token, kiosk_id, TTL) is not None
    now = _now()
    attempt = await pins.take_pin_attempt(
        kiosk_id, max_failures=1_000_000, now=now, lock_until=now + TTL
    )
    assert attempt.allowed
    await pins.clear_pin_failures(kiosk_id)
    await state.staff_sessions.open(kiosk_id, "hash", now + TTL)
    for _ in range(2):
        assert await state.staff_sessions.current(kiosk_id) == "hash"
    await state.visits.delete(token, kiosk_id)
    await state.staff_sessions.close(kiosk_id)


async def measure(state: KioskState, pins: PinAttemptCounter, visits: int, kiosks: int) -> float:
    """Visits per second, ``kiosks`` at a time."""

    async def kiosk(kiosk_id: int) -> None:
        for n in range(visits // kiosks):
            await one_visit(state, pins, kiosk_id, n)

    await kiosk(1)  # warm-up: scripts loaded, connections open
    started = time.perf_counter()
    await asyncio.gather(*(kiosk(kiosk_id) for kiosk_id in range(1, kiosks + 1)))
    return (visits // kiosks) * kiosks / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=2000)
    parser.add_argument("--kiosks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = await open_database(Path(folder) / "bench.db")
        try:
            results = await measure_both(database, args.visits, args.kiosks)
        finally:
            await database.close()
    floor = next(iter(results.values()))
    print(f"{args.visits} visits, {args.kiosks} kiosks at a time")
    print(f"{'state':<42} {'visits/s':>10} {'vs memory':>10} {'µs/visit':>9}")
    for name, rate in results.items():
        print(f"{name:<42} {rate:>10,.0f} {rate / floor:>10.3f} {1e6 / rate:>9.0f}")


async def measure_both(database: Database, visits: int, kiosk_count: int) -> dict[str, float]:
    kiosks = Kiosks(database)
    for n in range(kiosk_count):
        await kiosks.add("Bench", pairing_hash=f"bench-{n}", pairing_expires_at=_now())
    results: dict[str, float] = {}
    memory = MemoryKioskState(_now)
    results["memory + SQLite PIN tries (one process)"] = await measure(
        memory, kiosks, visits, kiosk_count
    )
    if not shutil.which("redis-server"):
        print("redis-server not installed: Redis not measured")
        return results
    async with redis_server() as url:
        redis = RedisKioskState.from_url(url, clock=_now)
        try:
            results["Redis (replicas)"] = await measure(
                redis, redis.pin_attempts, visits, kiosk_count
            )
        finally:
            await redis.aclose()
    return results


if __name__ == "__main__":
    asyncio.run(main())
