"""``GET /healthz``, what the balancer and the containers' healthchecks probe: 200 while the
database and Redis answer, 503 naming the part that does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from aiohttp import web

from bot.health import HEALTH_PATH, add_health_route
from bot.sandbox.runner import serve
from bot.services.kiosk_state import KioskState, MemoryKioskState
from bot.storage.database import Database, open_database
from bot.storage.kiosk_state_redis import RedisKioskState
from tests.redis_server import free_port


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _health(database: Database, state: KioskState) -> httpx.Response:
    app = web.Application()
    add_health_route(app, database, state)
    async with serve(app) as url, httpx.AsyncClient() as http:
        return await http.get(f"{url}{HEALTH_PATH}")


async def test_health_is_ok_while_the_database_and_redis_answer(
    tmp_path: Path, redis_url: str
) -> None:
    database = await open_database(tmp_path / "bot.db")
    redis = RedisKioskState.from_url(redis_url, clock=_now)
    try:
        alone = await _health(database, MemoryKioskState(_now))
        assert alone.status_code == 200
        assert alone.json() == {"database": "ok", "kiosk_state": "memory"}
        shared = await _health(database, redis)
        assert shared.status_code == 200
        assert shared.json() == {"database": "ok", "kiosk_state": "redis"}
        assert shared.headers["Cache-Control"] == "no-store"
    finally:
        await redis.aclose()
        await database.close()


async def test_health_names_what_does_not_answer_without_its_address(tmp_path: Path) -> None:
    database = await open_database(tmp_path / "bot.db")
    port = free_port()
    redis = RedisKioskState.from_url(f"redis://:hunter2@127.0.0.1:{port}/0", clock=_now)
    try:
        down = await _health(database, redis)
        assert down.status_code == 503
        assert down.json() == {"database": "ok", "kiosk_state": "unreachable"}
        assert "hunter2" not in down.text and str(port) not in down.text
    finally:
        await redis.aclose()
    await database.close()
    closed = await _health(database, MemoryKioskState(_now))
    assert closed.status_code == 503
    assert closed.json() == {"database": "unreachable", "kiosk_state": "memory"}
