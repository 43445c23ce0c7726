"""``links`` learns the bot's username with one plain ``getMe`` against a Bot API server (here
the local stand-in over loopback), without building the Telegram side."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devtools.telegram_standin import create_app as create_standin
from bot.sandbox.runner import serve
from tests.links.test_cli import links, workdir

__all__ = ["workdir"]

TOKEN = "4242424242:AAH-username-test-token_secret"


async def test_the_username_comes_from_get_me(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(create_standin(TOKEN, bot_username="corner_shop_bot")) as api_url:
        monkeypatch.setenv("BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_URL", api_url)
        made = await links(capsys, "create", "--source", "email", "--no-poster", "--no-check")
    assert made.status == 0, made.err
    assert made.out.startswith("https://t.me/corner_shop_bot?start=")


async def test_a_refused_token_is_reported_without_the_token(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(create_standin(TOKEN)) as api_url:
        monkeypatch.setenv("BOT_TOKEN", "4242424242:AAH-some-other-token")
        monkeypatch.setenv("TELEGRAM_API_URL", api_url)
        made = await links(capsys, "create", "--source", "email", "--no-poster", "--no-check")
    assert made.status == 2
    said = made.out + made.err
    assert "could not ask Telegram for the bot's username" in said
    assert "set BOT_USERNAME" in said
    assert "AAH-some-other-token" not in said
