"""Choosing and starting the loyalty platform: a configured one, or the embedded sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from pydantic import AnyHttpUrl, SecretStr

from bot.config import AltcraftSettings, ClientToolboxSettings, Platform, Settings
from bot.loyalty.base import LoyaltyBackend
from bot.sandbox.runner import serve


def create_backend(settings: Settings) -> LoyaltyBackend:
    """The client of the configured platform; for ``sandbox``, of the sandbox's platform.

    With ``platform=sandbox`` the connection settings come from ``embedded_platform``.
    """
    platform = settings.platform
    if platform is Platform.SANDBOX:
        platform = Platform(settings.sandbox_platform)
    if platform is Platform.ALTCRAFT:
        from bot.loyalty.altcraft import AltcraftClient

        return AltcraftClient(settings.altcraft, settings.http, card=settings.card)
    from bot.loyalty.clienttoolbox import ClientToolboxClient

    return ClientToolboxClient.from_settings(settings)


def sandbox_database(settings: Settings) -> Path:
    return settings.database.with_name(f"sandbox-{settings.sandbox_platform}.db")


@asynccontextmanager
async def embedded_platform(settings: Settings) -> AsyncIterator[Settings]:
    """Serve the built-in sandbox on loopback and yield settings whose platform connection
    points at it (``platform`` stays ``sandbox``, so the bot knows it runs on defaults).

    The sandbox keeps its data next to the bot's database, so members survive a restart.
    """
    db_path = sandbox_database(settings)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if settings.sandbox_platform == "altcraft":
        from bot.sandbox.altcraft import create_app as create_altcraft
        from bot.sandbox.altcraft import demo as altcraft_demo

        async with serve(create_altcraft(db_path)) as url:
            altcraft = AltcraftSettings(
                url=AnyHttpUrl(f"{url}/api/v1.1/"),
                token=SecretStr(altcraft_demo.TOKEN),
                loyalty_program_id=altcraft_demo.PROGRAM_ID,
                profiles_db_id=altcraft_demo.DB_ID,
            )
            yield settings.model_copy(update={"altcraft": altcraft})
        return
    from bot.sandbox.clienttoolbox import create_app as create_clienttoolbox
    from bot.sandbox.clienttoolbox import demo as clienttoolbox_demo

    async with serve(create_clienttoolbox(db_path)) as url:
        clienttoolbox = ClientToolboxSettings(
            url=AnyHttpUrl(f"{url}/api.php"),
            account_id=clienttoolbox_demo.ACCOUNT_ID,
            user_id=clienttoolbox_demo.USER_ID,
            user_api_key=SecretStr(clienttoolbox_demo.API_KEY),
        )
        yield settings.model_copy(update={"clienttoolbox": clienttoolbox})


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
