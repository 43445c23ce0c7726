"""Shared fixtures: the Client Toolbox sandbox on loopback and a real client talking to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import AnyHttpUrl, SecretStr

from bot.config import HttpSettings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.sandbox.clienttoolbox import create_app
from bot.sandbox.clienttoolbox import demo as ct_demo
from bot.sandbox.runner import serve

if TYPE_CHECKING:
    from tests.postgres_server import PostgresServer


@pytest.fixture
async def ct_sandbox_url(tmp_path: Path) -> AsyncIterator[str]:
    """Base URL of a fresh Client Toolbox sandbox (demo account) served on 127.0.0.1."""
    async with serve(create_app(tmp_path / "clienttoolbox-sandbox.db")) as url:
        yield url


def ct_settings(base_url: str) -> ClientToolboxSettings:
    return ClientToolboxSettings(
        url=AnyHttpUrl(f"{base_url}/api.php"),
        account_id=ct_demo.ACCOUNT_ID,
        user_id=ct_demo.USER_ID,
        user_api_key=SecretStr(ct_demo.API_KEY),
    )


@pytest.fixture
async def ct_backend(ct_sandbox_url: str) -> AsyncIterator[ClientToolboxClient]:
    """A ``ClientToolboxClient`` on the sandbox, with short timeouts for fault tests."""
    client = ClientToolboxClient(
        ct_settings(ct_sandbox_url), HttpSettings(connect_timeout=2, read_timeout=2)
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A real ``redis-server`` on a free loopback port, for this test only."""
    from tests.redis_server import redis_server

    async with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole test session (started on first use)."""
    from tests.postgres_server import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's bot database lives, once per engine: a SQLite file, then a fresh
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "loyalty-bot.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def bot_database(request: pytest.FixtureRequest, default: Path) -> Path | str:
    """A test's bot database: the SQLite file ``default``, or a fresh PostgreSQL database when
    ``BOT_TEST_DATABASE=postgresql`` (to run a whole suite, chat or kiosk or import, on
    PostgreSQL: ``BOT_TEST_DATABASE=postgresql python -m pytest tests/telegram``)."""
    if os.environ.get("BOT_TEST_DATABASE") == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.create_database()
    return default
