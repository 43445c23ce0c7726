"""Scale-out as product.md describes it: three replicas of the product, each composed as
``loyalty-bot run`` composes it, each in a working directory of its own (no shared file),
behind a round-robin load balancer that Telegram (the stand-in) posts webhook updates to;
sessions, per-user ordering and the kiosk's state in a real ``redis-server``, the bot's own
tables in a real PostgreSQL (``DATABASE_URL``), the platform one Client Toolbox sandbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiogram import Dispatcher
from pydantic import AnyHttpUrl, SecretStr
from redis.asyncio import Redis

from bot.app import Running, serve_webhook, start_services, start_telegram
from bot.config import Settings, WebhookSettings
from bot.devtools.telegram_standin import DEMO_USERS, STANDIN, ChatMessage, create_app
from bot.devtools.telegram_standin.records import DemoUser
from bot.devtools.telegram_standin.state import TelegramStandIn
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.runner import serve
from tests.conftest import ct_settings
from tests.e2e.balancer import RoundRobin
from tests.e2e.card_scan import scan_card
from tests.e2e.conftest import assert_no_errors_logged
from tests.postgres_server import PostgresServer

JANE = DEMO_USERS[0]
TOKEN = "4242424242:replicas-behind-a-balancer"


@dataclass
class Replica:
    running: Running
    dispatcher: Dispatcher


@dataclass
class Deployment:
    standin: TelegramStandIn
    balancer: RoundRobin
    replicas: list[Replica]
    redis_url: str


@asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[Replica]:
    """One replica, composed as ``run`` composes it, serving the webhook for the block."""
    async with start_services(settings) as (running, stack):
        bot, dispatcher = await start_telegram(running, stack)
        stop = asyncio.Event()
        serving = asyncio.create_task(
            serve_webhook(bot, dispatcher, running, stop=stop, handle_signals=False)
        )
        try:
            yield Replica(running, dispatcher)
        finally:
            stop.set()
            await asyncio.wait_for(serving, 15)


@pytest.fixture
async def deployment(
    tmp_path: Path,
    ct_sandbox_url: str,
    redis_url: str,
    postgres: PostgresServer,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Deployment]:
    caplog.set_level(logging.INFO)
    telegram = create_app(TOKEN)
    balancer = RoundRobin()
    async with AsyncExitStack() as stack:
        telegram_url = await stack.enter_async_context(serve(telegram))
        balancer_url = await stack.enter_async_context(serve(balancer.app()))
        settings = Settings(
            _env_file=None,
            platform="clienttoolbox",
            clienttoolbox=ct_settings(ct_sandbox_url),
            bot_token=SecretStr(TOKEN),
            telegram_api_url=AnyHttpUrl(telegram_url),
            webhook=WebhookSettings(url=AnyHttpUrl(f"{balancer_url}/telegram/webhook")),
            redis_url=SecretStr(redis_url),
            database_url=SecretStr(postgres.create_database()),
            port=0,
        )
        replicas = []
        for number in range(3):
            own = settings.model_copy(
                update={"database": tmp_path / f"host-{number}" / "data" / "loyalty-bot.db"}
            )
            started = await stack.enter_async_context(replica(own))
            balancer.replicas.append(started.running.web_url)
            replicas.append(started)
        standin = telegram[STANDIN]
        await standin.wait_for_call("setWebhook", timeout=10)
        yield Deployment(standin, balancer, replicas, redis_url)
    assert_no_errors_logged(caplog)
    # Each host kept its tables in PostgreSQL and its sessions in Redis: no database file.
    assert list(tmp_path.glob("host-*/data/*.db")) == []  # noqa: ASYNC240 - after the run


def inline_data(message: ChatMessage, text: str) -> str:
    return next(b["callback_data"] for b in message.inline_buttons if b["text"] == text)


async def test_a_customer_moves_between_replicas_without_noticing(
    deployment: Deployment, ct_backend: ClientToolboxClient
) -> None:
    standin = deployment.standin

    sent = await standin.send_command(JANE.id, "start")
    welcome = await standin.wait_for_message(JANE.id, after=sent.message_id, timeout=10)
    assert welcome.text is not None and welcome.text.startswith("👋 Welcome to")
    sent = await standin.press_reply_button(JANE.id, "📱 Join with my phone")
    joined = await standin.wait_for_message(
        JANE.id, lambda m: bool(m.photo), after=sent.message_id, timeout=10
    )
    assert joined.photo_bytes is not None
    member = await ct_backend.find_member_by_phone(JANE.phone)
    assert member is not None and member.card_number == scan_card(joined.photo_bytes)

    # A conversation of several steps, each step on the other replica: the state is in Redis.
    sent = await standin.press_reply_button(JANE.id, "👤 Profile")
    profile = await standin.wait_for_message(JANE.id, after=sent.message_id)
    await standin.press_inline_button(
        JANE.id, profile.message_id, inline_data(profile, "✏️ First name")
    )
    prompt = await standin.wait_for_message(
        JANE.id, lambda m: m.text == "Type your first name.", after=profile.message_id
    )
    async with Redis.from_url(deployment.redis_url) as redis:
        [state_key] = await redis.keys(f"loyalty-bot:bot=4242424242:chat={JANE.id}:*:state")
        assert await redis.get(state_key) == b"ProfileEditing:first_name"
    sent = await standin.send_text(JANE.id, "Janet")
    saved = await standin.wait_for_message(JANE.id, after=max(sent.message_id, prompt.message_id))
    assert saved.text is not None and saved.text.startswith("✅ Saved.")
    updated = await ct_backend.get_member(member.code)
    assert updated is not None and updated.first_name == "Janet"

    # Both replicas took their share of the updates.
    assert set(deployment.balancer.hits) == {r.running.web_url for r in deployment.replicas}


async def test_one_customers_updates_wait_for_each_other_across_replicas(
    deployment: Deployment, ct_backend: ClientToolboxClient, ct_sandbox_url: str
) -> None:
    standin = deployment.standin
    sent = await standin.share_contact(JANE.id)
    await standin.wait_for_message(JANE.id, lambda m: bool(m.photo), after=sent.message_id)

    # The platform slows down: the balance takes a while on whichever replica gets it.
    async with httpx.AsyncClient(base_url=ct_sandbox_url) as sandbox:
        (await sandbox.post("/_sandbox/faults", json={"latency": 1.0})).raise_for_status()
        await wait_for_locks(deployment.redis_url, held=False)  # the join is all done
        balance_asked = await standin.press_reply_button(JANE.id, "⭐ Balance")
        await wait_for_locks(deployment.redis_url, held=True)
        # Meanwhile she asks for help, which needs no platform, and the other replica gets it.
        help_asked = await standin.send_command(JANE.id, "help")
        help_answer = await standin.wait_for_message(
            JANE.id, lambda m: "/balance" in (m.text or ""), after=help_asked.message_id
        )
        (await sandbox.delete("/_sandbox/faults")).raise_for_status()
    balance = await standin.wait_for_message(
        JANE.id,
        lambda m: (m.text or "").startswith("⭐ Your balances"),
        after=balance_asked.message_id,
    )
    # Handled one after the other, in the order she sent them, though on two machines.
    assert balance.message_id < help_answer.message_id


async def wait_for_locks(redis_url: str, *, held: bool) -> None:
    """Until some replica holds a user's update lock (it is handling an update), or none does."""
    async with Redis.from_url(redis_url) as redis, asyncio.timeout(10):
        # Redis has no event to wait on here: ask again until the answer is the one wanted.
        while bool(await redis.keys("loyalty-bot:*:lock")) is not held:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_hundred_joins_at_once_across_three_replicas_make_a_hundred_members(
    deployment: Deployment, ct_backend: ClientToolboxClient
) -> None:
    standin = deployment.standin
    crowd = [
        DemoUser(
            id=880_000 + number,
            first_name=f"Guest{number}",
            last_name="",
            username=f"guest{number}",
            language_code="en",
            phone=f"+1202555{number:04d}",
        )
        for number in range(100)
    ]
    for user in crowd:
        standin.add_user(user)

    async def join(user: DemoUser) -> ChatMessage:
        sent = await standin.share_contact(user.id)
        return await standin.wait_for_message(
            user.id, lambda m: bool(m.photo), after=sent.message_id, timeout=60
        )

    cards = await asyncio.gather(*(join(user) for user in crowd))

    assert all(card.photo_bytes for card in cards)  # every user answered with a card
    members = [await ct_backend.find_member_by_phone(user.phone) for user in crowd]
    assert all(member is not None for member in members)
    codes = {member.code for member in members if member is not None}
    assert len(codes) == 100  # no one joined twice, nobody shares a member
    assert len(deployment.balancer.hits) == 3  # all three replicas took part
