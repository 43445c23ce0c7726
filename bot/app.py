"""Composition root: builds storage, the platform client, the Bot, the Dispatcher and the web app.

``run`` starts what the settings ask for. With nothing configured it starts the embedded
sandbox platform and the local Telegram stand-in with its browser chat page, all in one process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from bot.config import Settings
from bot.devtools.standin_identity import RUN_TOKEN
from bot.heap import settle as settle_heap
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.platforms import create_backend, embedded_platform, open_settings_database
from bot.sandbox.runner import serve

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.api.app import PosContext
    from bot.devtools.telegram_standin import TelegramStandIn
    from bot.kiosk.api import KioskContext
    from bot.storage.database import Database
    from bot.telegram.inbox import UpdateInbox
    from bot.telegram.webhook import WebhookEndpoint

log = logging.getLogger(__name__)

STANDIN_TOKEN = RUN_TOKEN
"""The bot token used against the local Telegram stand-in (it is not a Telegram secret)."""

DRAIN_SECONDS = 10.0
"""How long a stop waits for updates already being handled (a flood wait may be among them)."""


class StartupError(Exception):
    """The bot cannot start as configured; the message says what to change."""


@dataclass(frozen=True)
class Running:
    settings: Settings
    backend: LoyaltyBackend
    web_url: str
    telegram_api_url: str | None
    """The Bot API base the bot talks to; ``None`` means Telegram's own (or the configured one)."""
    standin: TelegramStandIn | None = None
    """The local Telegram stand-in's driver, when it runs (tests act as its users through it)."""
    database: Database | None = None
    """The bot's database, opened with the web server because the kiosk pages use it too."""
    kiosk: KioskContext | None = None
    """The in-store kiosk served at ``/kiosk/``."""
    webhook: WebhookEndpoint | None = None
    """Where Telegram posts updates, when a webhook is configured (else the bot long-polls)."""
    pos: PosContext | None = None
    """The POS API served at ``/api/v1/``."""


async def start_platform(
    settings: Settings, stack: AsyncExitStack
) -> tuple[Settings, LoyaltyBackend]:
    """The platform client (and, on defaults, the sandbox it talks to); ``stack`` closes both."""
    if settings.uses_embedded_platform:
        import sqlite3

        from bot.storage.opening import describe_unusable

        try:
            settings = await stack.enter_async_context(embedded_platform(settings))
        except (sqlite3.Error, OSError) as exc:
            # The sandbox keeps its data next to DATABASE; an OSError with no file is the port.
            if isinstance(exc, OSError) and exc.filename is None:
                raise
            raise StartupError(describe_unusable(settings.database, exc)) from None
    backend = create_backend(settings)
    stack.push_async_callback(backend.aclose)
    return settings, backend


@asynccontextmanager
async def start_services(settings: Settings) -> AsyncIterator[tuple[Running, AsyncExitStack]]:
    """Start the platform (or its sandbox), the web server and, with no token, the stand-in."""
    async with AsyncExitStack() as stack:
        settings, backend = await start_platform(settings, stack)
        standin = None
        if settings.uses_embedded_telegram:
            from bot.devtools.telegram_standin import STANDIN
            from bot.devtools.telegram_standin import create_app as create_standin

            # The stand-in is the root app: the Bot API lives at /bot<token>/, the page at /chat.
            web_app = create_standin(STANDIN_TOKEN)
            standin = web_app[STANDIN]
        else:
            web_app = web.Application()
        from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
        from bot.storage.opening import DatabaseUnusable

        try:
            database = await open_settings_database(settings)
        except DatabaseUnusable as exc:
            raise StartupError(str(exc)) from None
        stack.push_async_callback(database.close)
        kiosk = build_kiosk(settings, backend, database)
        stack.push_async_callback(kiosk.aclose)
        mount_kiosk(web_app, create_kiosk_app(kiosk))
        from bot.health import add_health_route

        add_health_route(web_app, database, kiosk.state)
        from bot.api.app import build_pos, create_api_app, mount_api

        pos = build_pos(settings, backend, database)
        mount_api(web_app, create_api_app(pos))
        webhook = None
        if settings.webhook.url is not None:
            from bot.telegram.webhook import WebhookEndpoint, webhook_address

            webhook = WebhookEndpoint(webhook_address(settings)[1])
            webhook.register(web_app)
        try:
            web_url = await stack.enter_async_context(serve(web_app, settings.host, settings.port))
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartupError(
                f"Cannot serve the chat and kiosk pages on {settings.host}:{settings.port}: "
                f"{reason}. Stop what uses that port, or choose another with PORT "
                "(or run --port 0 for any free one)."
            ) from exc
        from urllib.parse import urlsplit

        from bot.storage.kiosks import Kiosks

        # `kiosk add` prints pairing links for the port actually served (--port, or any free).
        await Kiosks(database).remember_served_port(urlsplit(web_url).port or settings.port)
        telegram_api_url = web_url if settings.uses_embedded_telegram else None
        yield (
            Running(
                settings,
                backend,
                web_url,
                telegram_api_url,
                standin,
                database,
                kiosk,
                webhook,
                pos,
            ),
            stack,
        )


async def start_telegram(running: Running, stack: AsyncExitStack) -> tuple[Bot, Dispatcher]:
    """Open the bot's database and build the Bot and the Dispatcher; ``stack`` closes them."""
    from bot.storage.opening import DatabaseUnusable
    from bot.storage.ownership import SessionsTaken, claim_database_sessions
    from bot.telegram.dispatcher import build_bot, build_dispatcher
    from bot.telegram.sessions import (
        SessionStoreUnreachable,
        check_session_store,
        session_store,
    )

    db = running.database
    if db is None:
        try:
            db = await open_settings_database(running.settings)
        except DatabaseUnusable as exc:
            raise StartupError(str(exc)) from None
        stack.push_async_callback(db.close)
    if running.settings.redis_url is None:
        try:
            release = await claim_database_sessions(db)
        except SessionsTaken as exc:
            raise StartupError(str(exc)) from None
        stack.push_async_callback(release)
    storage, isolation = session_store(running.settings, db)
    try:
        await check_session_store(storage)
    except SessionStoreUnreachable as exc:
        await storage.close()
        raise StartupError(f"{exc}. Start it, or leave REDIS_URL empty for one process.") from None
    token = None if running.telegram_api_url is None else STANDIN_TOKEN
    bot = build_bot(running.settings, api_base_url=running.telegram_api_url, token=token)
    stack.push_async_callback(bot.session.close)
    dispatcher = build_dispatcher(
        running.settings,
        backend=running.backend,
        db=db,
        storage=storage,
        events_isolation=isolation,
    )
    if running.kiosk is not None:
        # The kiosk's store and claim QR codes are the bot's own signup links.
        running.kiosk.desk.set_links(dispatcher["signup_links"])
    from bot.telegram.balance_messages import connect_balance_messages, settle_kiosk_notices

    notifier = connect_balance_messages(bot, dispatcher, db)
    if running.kiosk is not None:
        running.kiosk.desk.set_notifier(notifier)
        # A kiosk purchase whose process died before its member was told is found again.
        settle_kiosk_notices(dispatcher, running.kiosk.desk.keep_settling_notices)
    if running.pos is not None:
        running.pos.desk.set_notifier(notifier)
    return bot, dispatcher


@asynccontextmanager
async def taking_updates(
    bot: Bot,
    dispatcher: Dispatcher,
    *,
    replicas: bool,
    drain_seconds: float,
    finish_pending_joins: bool,
    owner: str | None = None,
) -> AsyncIterator[UpdateInbox]:
    """The inbox, the outbox sender and (optionally) the pending-join finisher, for the block.

    Leaving is the graceful stop, in order: no new updates; the updates being handled and the
    joins being finished get ``drain_seconds`` (then they are cancelled and stay stored for the
    next run); the messages being sent finish; then the shutdown hooks. Only after that does
    the caller close the database, the Bot API session and the platform client.
    """
    from bot.telegram.inbox import UpdateInbox
    from bot.telegram.outbox import OutboxSender
    from bot.telegram.pending_joins import keep_finishing_pending_joins

    workflow_data = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data}
    await dispatcher.emit_startup(bot=bot, **workflow_data)
    updates = UpdateInbox(
        dispatcher["inbox"],
        bot,
        dispatcher,
        owner=owner,
        stale_after=dispatcher["settings"].webhook.takeover_seconds,
    )
    # Polling without Redis: this process holds the database file alone (see start_telegram).
    sole = not replicas and dispatcher["settings"].redis_url is None
    sender = OutboxSender(dispatcher["outbox"], bot, alone=sole)
    finisher_stop = asyncio.Event()
    finisher = None
    try:
        await updates.start(stale_owners_only=replicas)
        sender.start()
        if finish_pending_joins:
            # Joins accepted while the platform was down are completed once it is back.
            finisher = asyncio.create_task(
                keep_finishing_pending_joins(bot, dispatcher, stop=finisher_stop)
            )
        yield updates
    finally:
        finisher_stop.set()
        stopping = [updates.stop(drain_seconds)]
        if finisher is not None:
            stopping.append(_stop_task(finisher, drain_seconds))
        await asyncio.gather(*stopping)
        await sender.stop(drain_seconds)
        await dispatcher.emit_shutdown(bot=bot, **workflow_data)


async def _stop_task(task: asyncio.Task[None], seconds: float) -> None:
    """Let a task that was asked to stop end on its own within ``seconds``, else cancel it."""
    with suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), seconds)
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def poll(
    bot: Bot,
    dispatcher: Dispatcher,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    drain_seconds: float = DRAIN_SECONDS,
    finish_pending_joins: bool = False,
) -> None:
    """Long-poll through the inbox until Ctrl-C, SIGTERM or ``stop``, then stop gracefully
    (``taking_updates``). Each batch is stored before the next ``getUpdates`` confirms it."""
    from bot.telegram.inbox import poll as poll_into

    stop = stop or asyncio.Event()
    async with taking_updates(
        bot,
        dispatcher,
        replicas=False,
        drain_seconds=drain_seconds,
        finish_pending_joins=finish_pending_joins,
    ) as updates:
        me = await bot.me()
        log.info("Start polling for bot @%s id=%d - %r", me.username, bot.id, me.full_name)
        with _stop_on_signals(stop) if handle_signals else nullcontext():
            await poll_into(
                updates, bot, stop, allowed_updates=dispatcher.resolve_used_update_types()
            )
        log.info("Polling stopped")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _forget_stop_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        with suppress(NotImplementedError, ValueError):
            loop.remove_signal_handler(signum)


@contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop`` while the block runs; after it, a second one stops at
    once."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        with suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        _forget_stop_signals()


async def serve_webhook(
    bot: Bot,
    dispatcher: Dispatcher,
    running: Running,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    drain_seconds: float = DRAIN_SECONDS,
    finish_pending_joins: bool = False,
) -> None:
    """Receive updates by webhook until Ctrl-C, SIGTERM or ``stop``; then refuse new ones
    (Telegram delivers them again, to another replica or after a restart) and stop gracefully
    (``taking_updates``).

    Every replica sets the same webhook and secret at start; none deletes it at stop, since
    the others still serve it (and Telegram keeps updates while none does). Each takes over
    the stored updates of a replica that stopped beating.
    """
    from bot.telegram.webhook import webhook_address, webhook_secret

    endpoint = running.webhook
    if endpoint is None:
        raise ValueError("no webhook configured")
    stop = stop or asyncio.Event()
    url, _ = webhook_address(running.settings)
    secret = webhook_secret(running.settings, bot.token)
    async with taking_updates(
        bot,
        dispatcher,
        replicas=True,
        drain_seconds=drain_seconds,
        finish_pending_joins=finish_pending_joins,
        # No two live replicas serve on one host and port: a restart takes up its own
        # leftovers at once instead of waiting until they look abandoned.
        owner=f"{socket.gethostname()}:{urlsplit(running.web_url).port}",
    ) as updates:
        try:
            endpoint.open(updates, secret)
            await bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=dispatcher.resolve_used_update_types(),
                max_connections=running.settings.webhook.max_connections,
            )
            log.info("Receiving updates by webhook at %s", url)
            with _stop_on_signals(stop) if handle_signals else nullcontext():
                await stop.wait()
        finally:
            endpoint.close()


def announce(running: Running) -> None:
    """What a person starting the bot needs: where to chat with it, and how to stop it."""
    if running.telegram_api_url is not None:
        print("Local Telegram stand-in: open the chat page in a browser:")
        # On a line of its own, so it can be copied (and read by scripts) as it is.
        print(f"{running.web_url}/chat")
    else:
        print("Talking to Telegram: open the chat with your bot in a Telegram app.")
    if running.webhook is not None:
        from bot.telegram.webhook import webhook_address

        print(f"Receiving updates by webhook at {webhook_address(running.settings)[0]}")
    if running.kiosk is not None:
        from bot.kiosk.app import kiosk_url

        print(
            f"In-store kiosk: {kiosk_url(running.settings, running.web_url)} "
            "(pair a screen with: loyalty-bot kiosk add --store NAME)"
        )
    print("Press Ctrl-C to stop.", flush=True)


async def run(settings: Settings) -> None:
    async with start_services(settings) as (running, stack):
        bot, dispatcher = await start_telegram(running, stack)
        announce(running)
        settle_heap()
        if running.webhook is not None:
            await serve_webhook(bot, dispatcher, running, finish_pending_joins=True)
        else:
            await poll(bot, dispatcher, finish_pending_joins=True)


async def doctor(settings: Settings) -> int:
    """Check the configuration and reach the platform; print a line per check.

    It starts no web server, so it also works next to a running bot on the same port.
    """
    print(f"configuration: ok (platform={settings.platform})")
    async with AsyncExitStack() as stack:
        _, backend = await start_platform(settings, stack)
        try:
            campaigns = await backend.campaigns()
        except LoyaltyError as exc:
            print(f"platform: FAILED ({type(exc).__name__}: {exc.message})")
            return 1
        print(f"platform: ok ({len(campaigns)} campaigns)")
        for campaign in campaigns:
            print(f"  - {campaign.id} {campaign.kind.value}: {campaign.name}")
    telegram = "local stand-in" if settings.uses_embedded_telegram else "Telegram"
    print(f"telegram: {telegram}")
    if settings.webhook.url is not None:
        from bot.telegram.webhook import webhook_address

        print(f"updates: webhook at {webhook_address(settings)[0]}")
    else:
        print("updates: long polling")
    if await _doctor_database(settings):
        return 1
    return await _doctor_sessions(settings)


async def _doctor_database(settings: Settings) -> int:
    from bot.storage.database import is_postgres_url

    target = settings.database_target
    if not is_postgres_url(target):
        print(f"database: SQLite ({target})")
        return 0
    from bot.storage.postgres import PostgresProblem, check_postgres, redact

    try:
        version = await check_postgres(target)
    except PostgresProblem as exc:
        print(f"database: FAILED ({exc})")
        return 1
    print(f"database: PostgreSQL ({redact(target)}; reachable, migrated to {version}, writable)")
    return 0


async def _doctor_sessions(settings: Settings) -> int:
    if settings.redis_url is None:
        print("sessions: in the bot's database")
        return 0
    from bot.telegram.sessions import SessionStoreUnreachable, check_session_store, redis_storage

    storage = redis_storage(settings.redis_url.get_secret_value())
    try:
        await check_session_store(storage)
    except SessionStoreUnreachable as exc:
        print(f"sessions: FAILED ({exc})")
        return 1
    finally:
        await storage.close()
    print("sessions: Redis (reachable)")
    return 0
