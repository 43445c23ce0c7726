"""The webhook route on its own: what it accepts, what it refuses, and how it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from aiohttp import web
from pydantic import AnyHttpUrl, SecretStr

from bot.app import StartupError, start_services, start_telegram
from bot.config import ConfigError, Settings, WebhookSettings, load_settings
from bot.sandbox.runner import serve
from bot.storage.database import Database, open_database
from bot.storage.inbox import Inbox
from bot.telegram.inbox import UpdateInbox
from bot.telegram.webhook import (
    DEFAULT_PATH,
    SECRET_HEADER,
    WebhookEndpoint,
    webhook_address,
    webhook_secret,
)
from tests.redis_server import free_port

TOKEN = "4242424242:webhook-route"
SECRET = "s3cret-Token_1"


def update(update_id: int, text: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "Jane"},
            "text": text,
        },
    }


class Recorder:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def on_message(self, message: Message) -> None:
        await self.release.wait()
        self.texts.append(message.text or "")


@dataclass
class Route:
    endpoint: WebhookEndpoint
    recorder: Recorder
    url: str
    updates: UpdateInbox
    db: Database

    async def drain(self, seconds: float) -> bool:
        """Until nothing taken in is left to handle; ``False`` if something is after
        ``seconds``."""
        try:
            await asyncio.wait_for(
                self.updates.wait_until(lambda: not self.updates.waiting), seconds
            )
        except TimeoutError:
            return False
        return True


@pytest.fixture
async def route(tmp_path: Path) -> AsyncIterator[Route]:
    endpoint = WebhookEndpoint("/hook")
    app = web.Application()
    endpoint.register(app)
    recorder = Recorder()
    dispatcher = Dispatcher()
    dispatcher.message.register(recorder.on_message)
    bot = Bot(TOKEN)
    db = await open_database(tmp_path / "bot.db")
    updates = UpdateInbox(Inbox(db), bot, dispatcher)
    await updates.start(stale_owners_only=True)
    async with serve(app) as url:
        endpoint.open(updates, SECRET)
        yield Route(endpoint, recorder, f"{url}/hook", updates, db)
        endpoint.close()
        await updates.stop(5)
    await bot.session.close()
    await db.close()


async def post(url: str, body: object, secret: str = SECRET) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url, json=body, headers={SECRET_HEADER: secret})


async def test_an_update_with_the_secret_is_handled(route: Route) -> None:
    answer = await post(route.url, update(1, "hello"))
    assert answer.status_code == 200 and answer.json() == {}
    assert await route.drain(5)
    assert route.recorder.texts == ["hello"]


async def test_an_update_is_on_disk_before_it_is_answered_and_handled_once(
    route: Route,
) -> None:
    route.recorder.release.clear()
    assert (await post(route.url, update(1, "once"))).status_code == 200
    row = await route.db.fetch_one("SELECT state, payload FROM inbox_updates WHERE update_id = 1")
    assert row is not None and row["state"] == "new" and '"once"' in row["payload"]
    # Telegram did not see the 200 (a timeout) and delivers the same update again.
    assert (await post(route.url, update(1, "once"))).status_code == 200
    route.recorder.release.set()
    assert await route.drain(5)
    assert route.recorder.texts == ["once"]
    assert (await post(route.url, update(1, "once"))).status_code == 200
    assert await route.drain(5)
    assert route.recorder.texts == ["once"]


async def test_an_update_that_cannot_be_stored_is_answered_500(route: Route) -> None:
    await route.db.execute("DROP TABLE inbox_updates")
    answer = await post(route.url, update(1, "lost?"))
    assert answer.status_code == 500  # Telegram keeps it and sends it again
    assert route.recorder.texts == []


@pytest.mark.parametrize("secret", ["", "wrong", SECRET + "x", "ключ"])
async def test_a_wrong_or_missing_secret_is_refused(route: Route, secret: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            route.url,
            json=update(1, "forged"),
            headers={SECRET_HEADER: secret.encode()},
        )
    assert answer.status_code == 401
    assert await route.drain(5) and route.recorder.texts == []


async def test_a_body_that_is_not_an_update_is_refused(route: Route) -> None:
    recorder, url = route.recorder, route.url
    async with httpx.AsyncClient() as client:
        garbage = await client.post(url, content=b"{not json", headers={SECRET_HEADER: SECRET})
    assert garbage.status_code == 400
    assert (await post(url, ["a", "list"])).status_code == 400
    assert recorder.texts == []


async def test_a_stopping_route_refuses_new_updates_and_waits_for_the_ones_in_hand(
    route: Route,
) -> None:
    recorder, url = route.recorder, route.url
    recorder.release.clear()
    assert (await post(url, update(1, "in hand"))).status_code == 200
    route.endpoint.close()
    # Telegram keeps what is refused with 503 and delivers it again (to another replica).
    assert (await post(url, update(2, "too late"))).status_code == 503
    await asyncio.wait_for(route.updates.wait_until(lambda: route.updates.handling == 1), 5)
    stopping = asyncio.create_task(route.updates.stop(5))
    assert not await route.drain(0.05)
    recorder.release.set()
    await stopping
    assert recorder.texts == ["in hand"]


def test_the_address_and_the_path_served() -> None:
    def settings(url: str) -> Settings:
        return Settings(_env_file=None, webhook=WebhookSettings(url=AnyHttpUrl(url)))

    assert webhook_address(settings("https://bot.example.com")) == (
        f"https://bot.example.com{DEFAULT_PATH}",
        DEFAULT_PATH,
    )
    assert webhook_address(settings("https://bot.example.com/shop/tg/")) == (
        "https://bot.example.com/shop/tg",
        "/shop/tg",
    )


def test_every_replica_derives_the_same_secret_and_a_configured_one_wins() -> None:
    plain = Settings(_env_file=None)
    derived = webhook_secret(plain, TOKEN)
    assert derived == webhook_secret(Settings(_env_file=None), TOKEN)
    assert derived != webhook_secret(plain, "4242424242:another-token")
    assert TOKEN not in derived and len(derived) == 64
    configured = Settings(_env_file=None, webhook=WebhookSettings(secret=SecretStr(SECRET)))
    assert webhook_secret(configured, TOKEN) == SECRET


def test_bad_scale_out_settings_are_named_without_their_values() -> None:
    with pytest.raises(ConfigError) as redis:
        load_settings(_env_file=None, redis_url="http://:hunter2@cache:6379")
    assert "redis_url (env REDIS_URL)" in str(redis.value) and "hunter2" not in str(redis.value)
    with pytest.raises(ConfigError) as secret:
        load_settings(_env_file=None, webhook={"secret": "hunter2 with spaces"})
    assert "WEBHOOK__SECRET" in str(secret.value) and "hunter2" not in str(secret.value)
    with pytest.raises(ConfigError, match="https"):
        load_settings(_env_file=None, bot_token="1:x", webhook={"url": "http://bot.example.com"})
    # With a self-hosted Bot API server, plain HTTP is the operator's choice.
    load_settings(
        _env_file=None,
        bot_token="1:x",
        telegram_api_url="http://bot-api:8081",
        webhook={"url": "http://bot:8080/hook"},
    )


async def test_an_unreachable_redis_stops_the_start_with_a_plain_reason(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        database=tmp_path / "bot.db",
        port=0,
        redis_url=SecretStr(f"redis://:hunter2@127.0.0.1:{free_port()}/0"),
    )
    async with start_services(settings) as (running, stack):
        with pytest.raises(StartupError) as stopped:
            await start_telegram(running, stack)
    assert "Redis (REDIS_URL) does not answer" in str(stopped.value)
    assert "hunter2" not in str(stopped.value) and "127.0.0.1" not in str(stopped.value)
