"""The kiosk's state shared through a real ``redis-server``: two "replicas" (two kiosk
contexts, each with its own Redis client and nothing in common in memory) serve one kiosk,
as a round-robin balancer would send its requests. They share the database as replicas
share PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.kiosk.api import STAFF_HEADER, KioskContext
from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.runner import serve
from bot.services.kiosk import CardNotFound, UnknownCardsLimited, VisitEnded
from bot.services.kiosk_state import MemoryKioskState, WindowLimit
from bot.services.rate_limits import RateLimited
from bot.services.staff_pin import StaffLocked, StaffUnlocked, WrongPin
from bot.storage.database import Database
from bot.storage.kiosk_state_redis import RedisKioskState, RedisPinAttempts
from bot.storage.kiosks import Kiosk, Kiosks
from tests.kiosk.conftest import (
    STAFF_PIN,
    MovableClock,
    SandboxMember,
    in_module_loop,
    kiosk_settings,
    points_of,
)
from tests.redis_server import free_port, redis_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNKNOWN_CARD_LIMIT = 3
MAX_FAILURES = 5


@in_module_loop
async def redis_url() -> AsyncIterator[str]:
    async with redis_server() as url:
        yield url


@in_module_loop
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


Replicas = tuple[KioskContext, KioskContext]


@in_module_loop
async def replicas(
    redis_url: str,
    redis: Redis,
    ct_backend: ClientToolboxClient,
    database: Database,
    clock: MovableClock,
) -> AsyncIterator[Replicas]:
    """Two kiosk contexts built from settings with ``REDIS_URL``, as two replicas build
    theirs (on an empty Redis: kiosk ids start again with each test's database)."""
    await redis.flushdb()
    settings = kiosk_settings(
        unknown_card_limit=UNKNOWN_CARD_LIMIT, pin_max_failures=MAX_FAILURES
    ).model_copy(update={"redis_url": SecretStr(redis_url)})
    first = build_kiosk(settings, ct_backend, database, clock=clock)
    second = build_kiosk(settings, ct_backend, database, clock=clock)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def paired_kiosk(context: KioskContext, pin: str | None = STAFF_PIN) -> tuple[Kiosk, str]:
    added = await context.pairing.add("Main Street", pin=pin)
    paired = await context.pairing.pair(added.pairing_code)
    assert paired is not None
    return paired.kiosk, paired.key


async def live_keys(redis: Redis) -> dict[str, int]:
    """Every ``kiosk:`` key with its time to live in ms (-1: none, -2: gone)."""
    return {key: await redis.pttl(key) async for key in redis.scan_iter("kiosk:*")}


async def test_the_replicas_keep_their_state_in_redis_not_in_memory(
    replicas: Replicas,
) -> None:
    for context in replicas:
        assert isinstance(context.state, RedisKioskState)
        assert not isinstance(context.state, MemoryKioskState)


async def test_a_visit_opened_on_one_replica_is_refreshed_used_and_ended_on_the_other(
    replicas: Replicas, member: SandboxMember, clock: MovableClock, redis: Redis
) -> None:
    first, second = replicas
    kiosk, _ = await paired_kiosk(first)
    other_kiosk, _ = await paired_kiosk(first)
    screen = await first.desk.look_up(kiosk, member.card_number)
    assert screen.first_name == "Jane"
    (visit_key,) = [key async for key in redis.scan_iter("kiosk:visit:*")]
    assert screen.visit not in visit_key  # only the token's hash is a key
    assert 290_000 < await redis.pttl(visit_key) <= 300_000  # the staff session's 300 s

    clock.advance(seconds=250)
    refreshed = await second.desk.refresh(kiosk, screen.visit)
    assert refreshed.first_name == "Jane" and refreshed.contact == screen.contact
    clock.advance(seconds=250)  # 500 s after the lookup, 250 s after the refresh
    assert (await first.desk.refresh(kiosk, screen.visit)).first_name == "Jane"

    await second.desk.end_visit(kiosk, screen.visit)
    with pytest.raises(VisitEnded):
        await first.desk.refresh(kiosk, screen.visit)

    # A visit's token offered by another kiosk ends it, on every replica.
    again = await second.desk.look_up(kiosk, member.card_number)
    with pytest.raises(VisitEnded):
        await first.desk.refresh(other_kiosk, again.visit)
    with pytest.raises(VisitEnded):
        await second.desk.refresh(kiosk, again.visit)

    # Left alone past its life, it is over on both, whatever Redis still holds.
    late = await first.desk.look_up(kiosk, member.card_number)
    clock.advance(seconds=301)
    with pytest.raises(VisitEnded):
        await second.desk.refresh(kiosk, late.visit)
    with pytest.raises(VisitEnded):
        await first.desk.refresh(kiosk, late.visit)


async def test_staff_unlocked_on_one_replica_records_a_purchase_through_the_other(
    replicas: Replicas, member: SandboxMember, ct_backend: ClientToolboxClient
) -> None:
    first, second = replicas
    kiosk, _ = await paired_kiosk(first)
    visit = (await first.desk.look_up(kiosk, member.card_number)).visit
    unlocked = await first.desk.unlock_staff(kiosk, STAFF_PIN)
    assert isinstance(unlocked, StaffUnlocked)
    assert await second.desk.staff.session_open(kiosk, unlocked.token)
    assert not await second.desk.staff.session_open(kiosk, unlocked.token + "x")

    done = await second.desk.record(
        kiosk, unlocked.token, visit, campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("2.50")
    )
    assert done.receipt.transaction_id
    assert await points_of(ct_backend, member.code) == Decimal(700)

    # Locked on the second replica: the first one no longer takes the session either.
    await second.desk.staff.lock(kiosk)
    assert not await first.desk.staff.session_open(kiosk, unlocked.token)


async def test_the_unknown_card_limit_is_counted_across_replicas(
    replicas: Replicas, member: SandboxMember, clock: MovableClock
) -> None:
    first, second = replicas
    kiosk, _ = await paired_kiosk(first)
    for desk in (first.desk, second.desk, first.desk):  # the limit, split over both
        with pytest.raises(CardNotFound):
            await desk.look_up(kiosk, "0000-0000-0001")
    for desk in (second.desk, first.desk):
        with pytest.raises(UnknownCardsLimited) as refused:
            await desk.look_up(kiosk, "0000-0000-0002")
        assert dt.timedelta(seconds=599) < refused.value.retry_after <= dt.timedelta(minutes=10)
    # The limit holds back unknown cards only: a member's card still works on both.
    assert (await second.desk.look_up(kiosk, member.card_number)).first_name == "Jane"
    assert (await first.desk.look_up(kiosk, member.card_number)).first_name == "Jane"
    # Another kiosk has a count of its own.
    other, _ = await paired_kiosk(second)
    with pytest.raises(CardNotFound):
        await second.desk.look_up(other, "0000-0000-0003")
    # Once the window has passed, unknown cards are looked up again.
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(CardNotFound):
        await second.desk.look_up(kiosk, "0000-0000-0004")


async def test_fifty_parallel_pin_guesses_over_two_replicas_get_at_most_max_failures_checks(
    replicas: Replicas, database: Database, clock: MovableClock
) -> None:
    first, second = replicas
    kiosk, _ = await paired_kiosk(first)
    checked: list[str] = []
    for context in replicas:
        staff: Any = context.desk.staff
        right = staff._right

        def counting(kiosk: Kiosk, pin: str, right: Callable[[Kiosk, str], bool] = right) -> bool:
            checked.append(pin)
            return right(kiosk, pin)

        staff._right = counting

    guesses = [f"{n:04d}" for n in range(50)]
    outcomes = await asyncio.gather(
        *(
            (first if n % 2 else second).desk.unlock_staff(kiosk, guess)
            for n, guess in enumerate(guesses)
        )
    )
    assert len(checked) == MAX_FAILURES
    assert sum(isinstance(outcome, WrongPin) for outcome in outcomes) == MAX_FAILURES - 1
    assert sum(isinstance(outcome, StaffLocked) for outcome in outcomes) == 50 - (MAX_FAILURES - 1)
    # Locked on both replicas, even for the right PIN, which is not even checked.
    for context in replicas:
        assert isinstance(await context.desk.unlock_staff(kiosk, STAFF_PIN), StaffLocked)
    assert len(checked) == MAX_FAILURES
    # The count lives in Redis, not in the database's columns.
    stored = await Kiosks(database).get(kiosk.id)
    assert stored is not None and stored.pin_failures == 0 and stored.pin_locked_until is None

    clock.advance(minutes=5, seconds=1)
    assert isinstance(await second.desk.unlock_staff(kiosk, STAFF_PIN), StaffUnlocked)


async def test_every_kiosk_key_expires_by_itself(
    replicas: Replicas, member: SandboxMember, redis: Redis
) -> None:
    first, second = replicas
    kiosk, _ = await paired_kiosk(first)
    guessed, _ = await paired_kiosk(first)
    await first.desk.look_up(kiosk, member.card_number)
    with pytest.raises(CardNotFound):
        await second.desk.look_up(kiosk, "0000-0000-0009")
    await first.desk.unlock_staff(guessed, "0000")
    assert isinstance(await second.desk.unlock_staff(kiosk, STAFF_PIN), StaffUnlocked)
    await first.pairing_attempts.take("192.0.2.1")

    keys = await live_keys(redis)
    kinds = {key.split(":")[1] for key in keys}
    assert kinds == {"visit", "window", "staff", "pin"}, keys
    # Each lives no longer than what it holds: visit 300 s, lookups 60 s, unknown cards
    # 600 s, staff session 300 s, PIN tries 5 min, pairing tries 60 s.
    longest = {
        "visit": 300_000,
        "staff": 300_000,
        "pin": 300_000,
        f"window:lookups:{kiosk.id}": 60_000,
        f"window:unknown-cards:{kiosk.id}": 600_000,
        "window:pairing:192.0.2.1": 60_000,
    }
    for key, ttl in keys.items():
        rest = key.removeprefix("kiosk:")
        limit = next(ms for prefix, ms in longest.items() if rest.startswith(prefix))
        assert 0 < ttl <= limit, (key, ttl)
    assert f"kiosk:pin:{guessed.id}" in keys
    assert f"kiosk:pin:{kiosk.id}" not in keys  # a right PIN clears the count


async def test_redis_drops_an_expired_window_by_itself(redis_url: str, redis: Redis) -> None:
    state = RedisKioskState.from_url(redis_url, clock=lambda: dt.datetime.now(dt.UTC))
    try:
        limit = state.window_limit("short", 1, dt.timedelta(milliseconds=200))
        await limit.take("k")
        assert 0 < await redis.pttl("kiosk:window:short:k") <= 200
        async with asyncio.timeout(5):
            while await redis.exists("kiosk:window:short:k"):  # noqa: ASYNC110 - Redis expires it
                await asyncio.sleep(0.02)
        await limit.take("k")  # the real clock moved on too
    finally:
        await state.aclose()


def _fixed_clock() -> tuple[list[dt.datetime], Callable[[], dt.datetime]]:
    moments = [dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)]
    return moments, lambda: moments[0]


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_sliding_window_behaves_the_same_in_memory_and_in_redis(
    store: str, redis_url: str, redis: Redis
) -> None:
    await redis.flushdb()
    moments, clock = _fixed_clock()
    state = (
        MemoryKioskState(clock)
        if store == "memory"
        else RedisKioskState.from_url(redis_url, clock=clock)
    )
    try:
        limit: WindowLimit = state.window_limit("lookups", 2, dt.timedelta(seconds=60))
        await limit.take("kiosk 1")
        moments[0] += dt.timedelta(seconds=20)
        await limit.take("kiosk 1")
        await limit.take("kiosk 2")
        with pytest.raises(RateLimited) as refused:
            await limit.take("kiosk 1")
        assert refused.value.retry_after == dt.timedelta(seconds=40)
        assert await limit.remaining("kiosk 1") == 0
        assert await limit.remaining("kiosk 2") == 1
        moments[0] += dt.timedelta(seconds=40)
        await limit.take("kiosk 1")
        await limit.record("kiosk 1")
        with pytest.raises(RateLimited):
            await limit.check("kiosk 1")
        other = state.window_limit("unknown-cards", 1, dt.timedelta(seconds=60))
        await other.take("kiosk 1")  # another limit's count is its own
    finally:
        await state.aclose()


async def test_pin_tries_follow_the_same_rule_in_redis_as_in_the_database(
    ct_backend: ClientToolboxClient, database: Database, redis: Redis
) -> None:
    """The same tries against ``Kiosks`` (SQLite) and ``RedisPinAttempts`` answer alike."""
    kiosks = Kiosks(database)
    kiosk = await kiosks.add(
        "Main Street", pairing_hash="x", pairing_expires_at=dt.datetime.now(dt.UTC)
    )
    in_redis = RedisPinAttempts(redis, "kiosk:")
    start = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    lockout = dt.timedelta(minutes=5)
    await redis.flushdb()
    script = [0, 0, 0, 1, 4, 5, 6, 6, 6, 6, 7]  # minutes after start of each try
    clear_after = {6}
    for index, minutes in enumerate(script):
        now = start + dt.timedelta(minutes=minutes)
        answers = [
            await counter.take_pin_attempt(
                kiosk.id, max_failures=3, now=now, lock_until=now + lockout
            )
            for counter in (kiosks, in_redis)
        ]
        assert answers[0] == answers[1], (index, answers)
        if index in clear_after:
            await kiosks.clear_pin_failures(kiosk.id)
            await in_redis.clear_pin_failures(kiosk.id)


async def test_the_kiosk_api_across_two_servers_on_one_redis(
    replicas: Replicas, member: SandboxMember, ct_backend: ClientToolboxClient
) -> None:
    """A lookup, a staff PIN and a purchase, each on another server, as a balancer spreads
    them."""
    async with AsyncExitStack() as stack:
        urls = []
        for context in replicas:
            root = web.Application()
            mount_kiosk(root, create_kiosk_app(context))
            urls.append(await stack.enter_async_context(serve(root)))
        _, key = await paired_kiosk(replicas[0])
        one, two = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"{url}/kiosk/", headers={"X-Kiosk-Key": key})
            )
            for url in urls
        ]
        looked_up = await one.post("api/lookup", json={"card": member.card_number})
        assert looked_up.status_code == 200, looked_up.text
        visit = looked_up.json()["visit"]
        unlocked = await two.post("api/staff/unlock", json={"pin": STAFF_PIN})
        assert unlocked.status_code == 200, unlocked.text
        staff = {STAFF_HEADER: unlocked.json()["staff"]}
        bought = await one.post(
            "api/staff/record",
            json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "1.00"},
            headers=staff,
        )
        assert bought.status_code == 200, bought.text
        assert await points_of(ct_backend, member.code) == Decimal(550)
        assert (await two.post("api/idle", json={"visit": visit})).status_code == 204
        ended = await one.post("api/visit", json={"visit": visit})
        assert ended.status_code == 410
        after_idle = await one.post(
            "api/staff/record",
            json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "1.00"},
            headers=staff,
        )
        assert after_idle.status_code == 403  # idle on one server locked staff mode on both


async def test_an_unreachable_redis_answers_unavailable(
    ct_backend: ClientToolboxClient, database: Database, clock: MovableClock
) -> None:
    settings = kiosk_settings().model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
    )
    context = build_kiosk(settings, ct_backend, database, clock=clock)
    root = web.Application()
    mount_kiosk(root, create_kiosk_app(context))
    try:
        async with serve(root) as url:
            _, key = await paired_kiosk(context)
            async with httpx.AsyncClient(
                base_url=f"{url}/kiosk/", headers={"X-Kiosk-Key": key}
            ) as http:
                answer = await http.post("api/lookup", json={"card": "1234-5678"})
        assert answer.status_code == 503
        assert answer.json()["error"] == "unavailable"
    finally:
        await context.aclose()
