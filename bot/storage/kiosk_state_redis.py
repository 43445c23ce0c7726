"""The kiosk's short-lived state in Redis, shared by every replica (``REDIS_URL``).

Keys start with ``kiosk:`` and every one of them expires by itself (``PEXPIRE``/``PX``):

- ``kiosk:visit:<sha256 of the token>``: a hash ``kiosk``, ``expires`` (ms), ``member``
  (the member as JSON); the token itself is never stored.
- ``kiosk:staff:<kiosk id>``: ``{"token_hash": …, "expires": ms}``.
- ``kiosk:window:<limit name>:<key>``: a sorted set of events scored by their time (ms).
- ``kiosk:pin:<kiosk id>``: a hash ``failures``, ``locked_until`` (ms).

Every change that reads before it writes is one Lua script, so two replicas never both take
the last event of a window or the last PIN try. Moments come from the clock given (the
replica's wall clock; a test's clock in tests); Redis's own expiry only drops what is over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.loyalty.models import Member
from bot.services.kiosk_state import KioskStateUnavailable, Visit
from bot.services.rate_limits import RateLimited, check_window
from bot.storage.kiosks import PinAttempt

PREFIX = "kiosk:"

_TOUCH_VISIT = """
local visit = redis.call('HMGET', KEYS[1], 'kiosk', 'expires', 'member')
if not visit[1] then return false end
if visit[1] ~= ARGV[1] or tonumber(visit[2]) <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('HSET', KEYS[1], 'expires', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return visit[3]
"""

_DELETE_VISIT = """
if redis.call('HGET', KEYS[1], 'kiosk') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# ARGV: now (ms), window (ms), limit, mode (take | check | record | remaining), event id.
# Returns {1, events in the window} when allowed, {0, ms until one is allowed} when not.
_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local mode = ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if mode == 'remaining' then return {1, count} end
if mode ~= 'record' and count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
if mode == 'check' then return {1, count} end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
return {1, count + 1}
"""

# The same rule as ``Kiosks.take_pin_attempt``. ARGV: now, max failures, lock until (ms),
# how long the key is kept (ms). Returns {allowed, failures, locked until or -1}.
_PIN_ATTEMPT = """
local now, max_failures = tonumber(ARGV[1]), tonumber(ARGV[2])
local lock_until, keep = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'failures', 'locked_until')
local locked = tonumber(state[2])
if locked and locked > now then return {0, 0, locked} end
local failures = (tonumber(state[1]) or 0) + 1
if failures >= max_failures then
  redis.call('HSET', KEYS[1], 'failures', 0, 'locked_until', lock_until)
  redis.call('PEXPIRE', KEYS[1], keep)
  return {1, failures, lock_until}
end
redis.call('HSET', KEYS[1], 'failures', failures)
redis.call('HDEL', KEYS[1], 'locked_until')
redis.call('PEXPIRE', KEYS[1], keep)
return {1, failures, -1}
"""


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def _moment(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _duration_ms(duration: dt.timedelta) -> int:
    """A key's lifetime: at least a millisecond (``PEXPIRE 0`` would delete it)."""
    return max(1, round(duration.total_seconds() * 1000))


@asynccontextmanager
async def _answered() -> AsyncIterator[None]:
    try:
        yield
    except RedisError as exc:
        raise KioskStateUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc


class RedisVisits:
    def __init__(self, redis: Redis, clock: Callable[[], dt.datetime], prefix: str) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix
        self._touch = redis.register_script(_TOUCH_VISIT)
        self._delete = redis.register_script(_DELETE_VISIT)

    def _key(self, token: str) -> str:
        return f"{self._prefix}visit:{hashlib.sha256(token.encode()).hexdigest()}"

    async def put(self, token: str, visit: Visit) -> None:
        key = self._key(token)
        fields = [
            *("kiosk", str(visit.kiosk_id)),
            *("expires", str(_ms(visit.expires_at))),
            *("member", visit.member.model_dump_json()),
        ]
        async with _answered(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, items=fields)
            pipe.pexpire(key, _duration_ms(visit.expires_at - self._clock()))
            await pipe.execute()

    async def touch(self, token: str, kiosk_id: int, ttl: dt.timedelta) -> Visit | None:
        now = self._clock()
        expires_at = now + ttl
        async with _answered():
            member = await self._touch(
                keys=[self._key(token)],
                args=[str(kiosk_id), _ms(now), _ms(expires_at), _duration_ms(ttl)],
            )
        if member is None:
            return None
        return Visit(kiosk_id, Member.model_validate_json(member), expires_at)

    async def delete(self, token: str, kiosk_id: int) -> None:
        async with _answered():
            await self._delete(keys=[self._key(token)], args=[str(kiosk_id)])


class RedisWindowLimit:
    def __init__(
        self,
        redis: Redis,
        clock: Callable[[], dt.datetime],
        key_prefix: str,
        limit: int,
        window: dt.timedelta,
    ) -> None:
        check_window(limit, window)
        self._redis = redis
        self._clock = clock
        self._key_prefix = key_prefix
        self._limit = limit
        self._window_ms = _duration_ms(window)
        self._script = redis.register_script(_WINDOW)

    async def _run(self, key: str, mode: str) -> int:
        async with _answered():
            allowed, value = await self._script(
                keys=[f"{self._key_prefix}{key}"],
                args=[
                    _ms(self._clock()),
                    self._window_ms,
                    self._limit,
                    mode,
                    secrets.token_hex(8),
                ],
            )
        if not allowed:
            raise RateLimited(dt.timedelta(milliseconds=int(value)))
        return int(value)

    async def check(self, key: str) -> None:
        await self._run(key, "check")

    async def record(self, key: str) -> None:
        await self._run(key, "record")

    async def take(self, key: str) -> None:
        await self._run(key, "take")

    async def remaining(self, key: str) -> int:
        return max(0, self._limit - await self._run(key, "remaining"))


class RedisStaffSessions:
    def __init__(self, redis: Redis, clock: Callable[[], dt.datetime], prefix: str) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix

    def _key(self, kiosk_id: int) -> str:
        return f"{self._prefix}staff:{kiosk_id}"

    async def open(self, kiosk_id: int, token_hash: str, expires_at: dt.datetime) -> None:
        value = json.dumps({"token_hash": token_hash, "expires": _ms(expires_at)})
        async with _answered():
            await self._redis.set(
                self._key(kiosk_id), value, px=_duration_ms(expires_at - self._clock())
            )

    async def current(self, kiosk_id: int) -> str | None:
        async with _answered():
            raw = await self._redis.get(self._key(kiosk_id))
        if raw is None:
            return None
        session: dict[str, Any] = json.loads(raw)
        if int(session["expires"]) <= _ms(self._clock()):
            return None
        return str(session["token_hash"])

    async def close(self, kiosk_id: int) -> None:
        async with _answered():
            await self._redis.delete(self._key(kiosk_id))


class RedisPinAttempts:
    """``PinAttemptCounter`` in Redis. A wrong try is forgotten a lockout's length after it
    (a lock ends then anyway), so a key never outlives the lockout it could cause."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_PIN_ATTEMPT)

    def _key(self, kiosk_id: int) -> str:
        return f"{self._prefix}pin:{kiosk_id}"

    async def take_pin_attempt(
        self, kiosk_id: int, *, max_failures: int, now: dt.datetime, lock_until: dt.datetime
    ) -> PinAttempt:
        async with _answered():
            allowed, failures, locked_until = await self._script(
                keys=[self._key(kiosk_id)],
                args=[
                    _ms(now),
                    max_failures,
                    _ms(lock_until),
                    _duration_ms(lock_until - now),
                ],
            )
        return PinAttempt(
            allowed=bool(allowed),
            failures=int(failures),
            locked_until=None if int(locked_until) < 0 else _moment(int(locked_until)),
        )

    async def clear_pin_failures(self, kiosk_id: int) -> None:
        async with _answered():
            await self._redis.delete(self._key(kiosk_id))


class RedisKioskState:
    """The kiosk's state in Redis. ``redis`` must decode answers (``decode_responses=True``);
    ``from_url`` makes such a client and closes it on ``aclose``."""

    def __init__(
        self,
        redis: Redis,
        *,
        clock: Callable[[], dt.datetime],
        prefix: str = PREFIX,
        owns_client: bool = False,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix
        self._owns_client = owns_client
        self.visits = RedisVisits(redis, clock, prefix)
        self.staff_sessions = RedisStaffSessions(redis, clock, prefix)
        self.pin_attempts = RedisPinAttempts(redis, prefix)

    @classmethod
    def from_url(
        cls, url: str, *, clock: Callable[[], dt.datetime], prefix: str = PREFIX
    ) -> RedisKioskState:
        redis = Redis.from_url(url, decode_responses=True)
        return cls(redis, clock=clock, prefix=prefix, owns_client=True)

    def window_limit(self, name: str, limit: int, window: dt.timedelta) -> RedisWindowLimit:
        return RedisWindowLimit(
            self._redis, self._clock, f"{self._prefix}window:{name}:", limit, window
        )

    async def ping(self) -> str:
        async with _answered():
            await self._redis.ping()
        return "redis"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
