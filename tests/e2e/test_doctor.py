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
from tests.e2e.conftest import clean_environment

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
    assert lines[-3:] == [
        "telegram: local stand-in",
        "updates: long polling",
        "sessions: SQLite (data/loyalty-bot.db)",
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
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "updates: webhook at https://bot.example.com/tg",
        "sessions: Redis (reachable)",
    ]
    gone = replica.model_copy(update={"redis_url": SecretStr("redis://:hunter2@127.0.0.1:1/0")})
    assert await doctor(gone) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "sessions: FAILED (Redis (REDIS_URL) does not answer: ConnectionError)"
