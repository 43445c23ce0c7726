"""Starting the loyalty platform: a configured one, or the embedded sandbox of one.

Every platform is reached through ``bot.loyalty.registry``; nothing here names one.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import ModuleType

import httpx

from bot.config import Settings
from bot.loyalty import registry
from bot.loyalty.base import LoyaltyBackend
from bot.sandbox.runner import serve


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
