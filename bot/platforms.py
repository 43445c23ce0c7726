"""Starting what the settings name: the loyalty platform (a configured one, or the embedded
sandbox of one) and, for the commands, the bot's database and their parsers' set-up.

Every platform is reached through ``bot.loyalty.registry``; nothing here names one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

from bot.config import Settings
from bot.loyalty import registry
from bot.loyalty.base import LoyaltyBackend
from bot.sandbox.runner import serve

if TYPE_CHECKING:
    from bot.storage.database import Database

# The exit statuses every command shares (each adds its own for what else can go wrong).
EXIT_OK = 0
EXIT_USAGE = 2


def create_backend(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> LoyaltyBackend:
    """The client of the configured platform; for ``sandbox``, of the sandbox's platform.

    With ``platform=sandbox`` the connection settings come from ``embedded_platform``.
    """
    name = settings.backend_platform
    entry = registry.platform(name)
    return entry.create_client(
        settings.platform_settings(name), settings.client_options(), transport
    )


def sandbox_module(name: str) -> ModuleType:
    """The sandbox package of platform ``name`` (``create_app``, ``run_sandbox``,
    ``connection``)."""
    return importlib.import_module(registry.platform(name).sandbox)


def sandbox_database(settings: Settings) -> Path:
    return settings.database.with_name(f"sandbox-{settings.sandbox_platform}.db")


def describe_target(settings: Settings) -> str:
    """The platform account rows go to, for an import's checkpoint key (no secret in it)."""
    if settings.uses_embedded_platform:
        return f"sandbox:{settings.sandbox_platform}:{sandbox_database(settings).resolve()}"
    account = settings.platform_settings(settings.platform).account()
    return f"{settings.platform}:{account}"


@asynccontextmanager
async def embedded_platform(settings: Settings) -> AsyncIterator[Settings]:
    """Serve the built-in sandbox on loopback and yield settings whose platform connection
    points at it (``platform`` stays ``sandbox``, so the bot knows it runs on defaults).

    The sandbox keeps its data next to the bot's database, so members survive a restart.
    """
    db_path = sandbox_database(settings)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    name = settings.sandbox_platform
    entry = registry.platform(name)
    sandbox = sandbox_module(name)
    async with serve(sandbox.create_app(db_path)) as url:
        connection = entry.settings_model.model_validate(sandbox.connection(url))
        yield settings.model_copy(update={name: connection})


@asynccontextmanager
async def connected_backend(settings: Settings) -> AsyncIterator[LoyaltyBackend]:
    """The configured platform's client, with the embedded sandbox started first on defaults;
    both are closed on exit. For commands that need the platform but not the bot."""
    async with AsyncExitStack() as stack:
        if settings.uses_embedded_platform:
            settings = await stack.enter_async_context(embedded_platform(settings))
        backend = create_backend(settings)
        stack.push_async_callback(backend.aclose)
        yield backend


async def open_settings_database(settings: Settings) -> Database:
    """The bot's database as the settings name it (``DATABASE_URL``, else the ``DATABASE``
    file); raises ``DatabaseUnusable``, a sentence naming the setting, when it cannot be used."""
    from bot.storage.opening import open_configured_database

    return await open_configured_database(settings.database_target, local_file=settings.database)


async def with_settings_database(
    settings: Settings, work: Callable[[Database], Awaitable[int]], *, unusable: int
) -> int:
    """A command's ``work`` on the bot's database, closed after it; when the database cannot
    be used, the reason is printed and the exit status is ``unusable``."""
    from bot.storage.opening import DatabaseUnusable

    try:
        database = await open_settings_database(settings)
    except DatabaseUnusable as exc:
        print(exc)
        return unusable
    try:
        return await work(database)
    finally:
        await database.close()


def add_command(
    commands: Any, name: str, *, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """Add sub-command ``name`` to ``loyalty-bot`` (``commands``: from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    return parser


def add_actions(commands: Any, name: str, *, help: str, description: str | None = None) -> Any:
    """Add sub-command ``name`` whose own sub-commands (its actions, in ``args.<name>_command``)
    are added to what this returns."""
    parser = add_command(commands, name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name.replace('-', '_')}_command", required=True)


def local_time(moment: dt.datetime | None) -> str:
    """A stored moment on this machine's clock, to the minute, for a command's listing."""
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M")
