"""``build_bot``: the Bot API server, HTML by default, flood control on the session."""

from __future__ import annotations

from aiogram.enums import ParseMode
from pydantic import AnyHttpUrl, SecretStr

from bot.config import Settings
from bot.telegram.dispatcher import build_bot
from bot.telegram.flood import FloodControl
from bot.telegram.i18n import supported_language


def settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, bot_token=SecretStr("123456:TOKEN"), **overrides)  # type: ignore[call-arg]


async def test_the_bot_api_server_comes_from_settings_or_the_argument() -> None:
    default = build_bot(settings())
    configured = build_bot(settings(telegram_api_url=AnyHttpUrl("http://127.0.0.1:8081/")))
    argument = build_bot(settings(), api_base_url="http://127.0.0.1:9999", token="1:x")
    try:
        assert default.session.api.api_url("T", "getMe") == "https://api.telegram.org/botT/getMe"
        assert configured.session.api.api_url("T", "getMe") == ("http://127.0.0.1:8081/botT/getMe")
        assert argument.session.api.api_url("T", "getMe") == "http://127.0.0.1:9999/botT/getMe"
        assert default.token == "123456:TOKEN" and argument.token == "1:x"
        assert default.default.parse_mode == ParseMode.HTML
        assert any(isinstance(m, FloodControl) for m in default.session.middleware._middlewares)
    finally:
        for bot in (default, configured, argument):
            await bot.session.close()


def test_telegram_language_codes_map_to_the_bots_languages() -> None:
    languages = ("en", "ru", "es")
    assert supported_language("ru", languages) == "ru"
    assert supported_language("es-MX", languages) == "es"
    assert supported_language("pt-br", languages) is None
    assert supported_language(None, languages) is None
