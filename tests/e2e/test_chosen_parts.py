"""Each part is chosen on its own: a configured platform with the local stand-in, or a bot
token (with a self-hosted Bot API server) with the embedded sandbox platform."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from bot.config import Settings
from bot.devtools.telegram_standin import DEMO_USERS, STANDIN, create_app
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.runner import serve
from tests.conftest import ct_settings
from tests.e2e.card_scan import scan_card
from tests.e2e.conftest import assert_no_errors_logged, polling_product

JANE = DEMO_USERS[0]
TOKEN = "4242424242:e2e-self-hosted-bot-api"


async def test_a_configured_platform_with_the_local_stand_in(
    tmp_path: Path,
    default_settings: Settings,
    ct_sandbox_url: str,
    ct_backend: ClientToolboxClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(
        _env_file=None,
        platform="clienttoolbox",
        clienttoolbox=ct_settings(ct_sandbox_url),
        database=default_settings.database,
        port=0,
    )
    async with polling_product(settings) as live:
        assert live.running.standin is not None
        sent = await live.standin.share_contact(JANE.id)
        card = await live.standin.wait_for_message(
            JANE.id, lambda m: bool(m.photo), after=sent.message_id, timeout=10
        )
    assert card.photo_bytes is not None
    member = await ct_backend.find_member_by_phone(JANE.phone)
    assert member is not None, "the member was not created on the configured platform"
    assert member.card_number == scan_card(card.photo_bytes)
    assert not (tmp_path / "data" / "sandbox-clienttoolbox.db").exists()
    assert_no_errors_logged(caplog)


async def test_a_bot_token_and_bot_api_server_with_the_embedded_sandbox(
    tmp_path: Path, default_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = create_app(TOKEN)
    async with serve(server) as bot_api_url:
        settings = default_settings.model_copy(
            update={"bot_token": SecretStr(TOKEN), "telegram_api_url": AnyHttpUrl(bot_api_url)}
        )
        async with polling_product(settings, server[STANDIN]) as live:
            assert live.running.standin is None and live.running.telegram_api_url is None
            sent = await live.standin.send_command(JANE.id, "start")
            welcome = await live.standin.wait_for_message(JANE.id, after=sent.message_id)
            async with httpx.AsyncClient() as client:
                chat_page = await client.get(f"{live.running.web_url}/chat")
        assert welcome.text is not None and welcome.text.startswith("👋 Welcome to")
        assert {call.method for call in server[STANDIN].calls} >= {"getMe", "getUpdates"}
        # With a token there is no local stand-in, so no chat page either.
        assert chat_page.status_code == 404
    assert (tmp_path / "data" / "sandbox-clienttoolbox.db").is_file()
    assert_no_errors_logged(caplog)
