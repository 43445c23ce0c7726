"""``loyalty-bot api-client add|list|revoke``: the secret is shown once and only its hash is
kept; a client's signed request is accepted until it is revoked."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.api.app import build_auth
from bot.config import load_settings
from bot.services.pos import PosRefusal, sign
from bot.storage.api_clients import ApiClient
from bot.storage.database import open_database


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE", str(tmp_path / "bot.db"))
    monkeypatch.setenv("API__SECRET", "a-master-key-for-the-test")
    return tmp_path


def verify(body: bytes, key_id: str, secret: str) -> ApiClient:
    async def check() -> ApiClient:
        database = await open_database(load_settings().database)
        try:
            stamp = str(int(time.time()))
            auth = build_auth(load_settings(), database)
            return await auth.verify(key_id, stamp, sign(secret, stamp, body), body)
        finally:
            await database.close()

    return asyncio.run(check())


def test_add_list_revoke(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-client", "add", "--name", "till-main-street"]) == 0
    printed = capsys.readouterr().out
    key_id = re.search(r"X-Client-Id: (pos_[0-9a-f]{16})", printed)
    secret = re.search(r"Secret:\s+(\S+)", printed)
    assert key_id is not None and secret is not None, printed
    assert secret.group(1).encode() not in (workdir / "bot.db").read_bytes()
    assert verify(b'{"a": 1}', key_id.group(1), secret.group(1)).name == "till-main-street"

    assert main(["api-client", "add", "--name", "till-main-street"]) == 2
    assert "revoke it first" in capsys.readouterr().out
    assert main(["api-client", "list"]) == 0
    assert re.search(
        rf"{key_id.group(1)}  till-main-street  added .*  active", capsys.readouterr().out
    )

    assert main(["api-client", "revoke", "till-main-street"]) == 0
    capsys.readouterr()
    with pytest.raises(PosRefusal) as refused:
        verify(b'{"a": 2}', key_id.group(1), secret.group(1))
    assert refused.value.code == "unauthorized"
    assert main(["api-client", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["api-client", "revoke", "till-main-street"]) == 1
