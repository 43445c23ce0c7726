"""``loyalty-bot doctor`` on defaults: it starts the sandbox, lists its campaigns, and needs no
web port (so it also works next to a running bot)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AnyHttpUrl, SecretStr

from bot.app import doctor
from bot.config import Settings, WebhookSettings
from bot.storage import open_database
from bot.storage.migrations import MIGRATIONS
from tests.e2e.conftest import clean_environment
from tests.postgres_server import PostgresServer
from tests.redis_server import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_doctor_on_a_fresh_folder(tmp_path: Path) -> None:
    environment = clean_environment()
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["configuration: ok (platform=sandbox)", "platform: ok (7 campaigns)"]
    for kind in ("points", "giftcard", "events", "earned", "buyx"):
        assert any(line.startswith("  - ") and f" {kind}: " in line for line in lines), kind
    assert lines[-4:] == [
        "telegram: local stand-in",
        "updates: long polling",
        "database: SQLite (data/loyalty-bot.db)",
        "sessions: in the bot's database",
    ]
    assert "Traceback" not in done.stderr


async def test_doctor_works_while_the_bot_holds_the_web_port(
    default_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as running_bot:
        running_bot.bind(("127.0.0.1", 0))
        running_bot.listen()
        settings = default_settings.model_copy(update={"port": running_bot.getsockname()[1]})
        assert await doctor(settings) == 0
    out = capsys.readouterr().out.splitlines()
    assert "platform: ok (7 campaigns)" in out
    assert "  - 1111222233334444 points: Widget Rewards" in out


async def test_doctor_checks_the_webhook_and_redis_of_replicas(
    default_settings: Settings, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    replica = default_settings.model_copy(
        update={
            "webhook": WebhookSettings(url=AnyHttpUrl("https://bot.example.com/tg")),
            "redis_url": SecretStr(redis_url),
        }
    )
    assert await doctor(replica) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3] == "updates: webhook at https://bot.example.com/tg"
    assert out[-1] == "sessions: Redis (reachable)"
    gone = replica.model_copy(update={"redis_url": SecretStr("redis://:hunter2@127.0.0.1:1/0")})
    assert await doctor(gone) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "sessions: FAILED (Redis (REDIS_URL) does not answer: ConnectionError)"


async def test_doctor_checks_postgresql_reachable_migrated_and_writable(
    default_settings: Settings, postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres.create_database()
    replica = default_settings.model_copy(update={"database_url": SecretStr(url)})

    assert await doctor(replica) == 1  # a new, empty database
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("database: FAILED (schema version 0, this bot needs ")
    )

    await (await open_database(url)).close()  # the bot migrates at start
    assert await doctor(replica) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == (
        f"database: PostgreSQL ({url}; reachable, migrated to {MIGRATIONS[-1].version}, writable)"
    )

    postgres.psql("CREATE ROLE reader LOGIN PASSWORD 'secret-pw'")
    postgres.psql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", url.rsplit("/", 1)[1])
    reader = url.replace("postgres@", "reader:secret-pw@")
    assert await doctor(replica.model_copy(update={"database_url": SecretStr(reader)})) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("database: FAILED (not writable: permission denied")

    gone = f"postgresql://reader:secret-pw@127.0.0.1:{free_port()}/loyalty"
    assert await doctor(replica.model_copy(update={"database_url": SecretStr(gone)})) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(
        "database: FAILED (cannot connect to postgresql://reader:***@127.0.0.1:"
    )
    assert "secret-pw" not in last
