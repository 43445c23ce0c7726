"""Both sandboxes on loopback, real clients on them, the bot's database, and an import runner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import AnyHttpUrl, SecretStr

from bot.config import HttpSettings
from bot.importing.csv_source import CsvSource, sniff
from bot.importing.mapping import ImportKind, guess_mapping
from bot.importing.reconcile import Reconciler
from bot.importing.report import ImportSummary
from bot.importing.runner import ChunkOutcome, Importer, ImportPlan
from bot.importing.sending import ChunkSender
from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.altcraft.settings import AltcraftSettings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.loyalty.models import CampaignKind
from bot.sandbox.altcraft import create_app as create_altcraft
from bot.sandbox.altcraft import demo as altcraft_demo
from bot.sandbox.clienttoolbox import create_app as create_clienttoolbox
from bot.sandbox.clienttoolbox import demo as ct_demo
from bot.sandbox.runner import serve
from bot.storage.database import Database, open_database
from bot.storage.imports import ImportCheckpoints
from tests.conftest import bot_database

FAST = HttpSettings(connect_timeout=5, read_timeout=30)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a large import; still part of the default suite")


def clienttoolbox_settings(url: str) -> ClientToolboxSettings:
    return ClientToolboxSettings(
        url=AnyHttpUrl(f"{url}/api.php"),
        account_id=ct_demo.ACCOUNT_ID,
        user_id=ct_demo.USER_ID,
        user_api_key=SecretStr(ct_demo.API_KEY),
    )


def altcraft_settings(url: str) -> AltcraftSettings:
    return AltcraftSettings(
        url=AnyHttpUrl(f"{url}/api/v1.1/"),
        token=SecretStr(altcraft_demo.TOKEN),
        loyalty_program_id=altcraft_demo.PROGRAM_ID,
        profiles_db_id=altcraft_demo.DB_ID,
    )


@pytest.fixture
def ct_app(tmp_path: Path) -> web.Application:
    return create_clienttoolbox(tmp_path / "ct-sandbox.db")


@pytest.fixture
async def ct_url(ct_app: web.Application) -> AsyncIterator[str]:
    async with serve(ct_app) as url:
        yield url


@pytest.fixture
async def ct_client(ct_url: str) -> AsyncIterator[ClientToolboxClient]:
    client = ClientToolboxClient(clienttoolbox_settings(ct_url), FAST)
    yield client
    await client.aclose()


@pytest.fixture
def altcraft_app() -> web.Application:
    return create_altcraft(":memory:")


@pytest.fixture
async def altcraft_url(altcraft_app: web.Application) -> AsyncIterator[str]:
    async with serve(altcraft_app) as url:
        yield url


@pytest.fixture
async def altcraft_client(altcraft_url: str) -> AsyncIterator[AltcraftClient]:
    client = AltcraftClient(altcraft_settings(altcraft_url), FAST)
    yield client
    await client.aclose()


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(bot_database(request, tmp_path / "bot" / "loyalty-bot.db"))
    yield db
    await db.close()


@pytest.fixture
def checkpoints(database: Database) -> ImportCheckpoints:
    return ImportCheckpoints(database)


class ImportRun:
    """Runs ``Importer`` over a file the way the command does, with knobs for the tests."""

    def __init__(self, checkpoints: ImportCheckpoints, tmp_path: Path) -> None:
        self.checkpoints = checkpoints
        self.tmp_path = tmp_path
        self.outcomes: list[ChunkOutcome] = []

    async def __call__(
        self,
        kind: ImportKind,
        path: Path,
        sender: ChunkSender | None,
        *,
        platform: str = "clienttoolbox",
        target: str = "test",
        chunk_size: int | None = None,
        concurrency: int = 2,
        dry_run: bool = False,
        campaigns: dict[str, CampaignKind] | None = None,
        default_campaign: str = "",
        resend_in_doubt: bool = False,
        on_settled: Callable[[ChunkOutcome], None] | None = None,
        report: Path | None = None,
        reconciler: Reconciler | None = None,
    ) -> ImportSummary:
        source_format = sniff(path)
        with CsvSource(path, source_format) as probe:
            header = probe.header
        plan = ImportPlan(
            kind=kind,
            path=path,
            source_format=source_format,
            mapping=guess_mapping(kind, header),
            platform=platform,
            target=target,
            campaigns=campaigns,
            default_campaign=default_campaign,
            chunk_size=chunk_size,
            concurrency=concurrency,
            dry_run=dry_run,
            resend_in_doubt=resend_in_doubt,
        )

        def settled(outcome: ChunkOutcome) -> None:
            self.outcomes.append(outcome)
            if on_settled is not None:
                on_settled(outcome)

        importer = Importer(
            plan,
            sender,
            None if dry_run else self.checkpoints,
            on_settled=settled,
            reconciler=reconciler,
        )
        return await importer.run(report or self.tmp_path / f"{path.stem}.report.csv")


@pytest.fixture
def run_import(checkpoints: ImportCheckpoints, tmp_path: Path) -> ImportRun:
    return ImportRun(checkpoints, tmp_path)
