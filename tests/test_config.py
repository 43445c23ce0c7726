"""Configuration: defaults, bad settings named without their values, secrets kept secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import SecretRedactor, secret_values

SECRET = "s3cr3t-VALUE-that-must-not-leak"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    for name in ("PLATFORM", "BOT_TOKEN", "CLIENTTOOLBOX__USER_ID", "ALTCRAFT__TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.platform == "sandbox"
    assert settings.uses_embedded_platform
    assert settings.uses_embedded_telegram
    assert settings.card.length == 12


def test_clienttoolbox_without_credentials_names_the_missing_settings() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(platform="clienttoolbox", clienttoolbox={"user_api_key": SECRET})
    text = str(caught.value)
    assert "clienttoolbox.account_id" in text
    assert "clienttoolbox.user_id" in text
    assert SECRET not in text


def test_altcraft_needs_token_program_and_database() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(platform="altcraft")
    text = str(caught.value)
    for name in ("altcraft.token", "altcraft.loyalty_program_id", "altcraft.profiles_db_id"):
        assert name in text


def test_a_wrong_value_is_named_by_setting_and_env_variable_but_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALTCRAFT__LOYALTY_PROGRAM_ID", SECRET)
    monkeypatch.setenv("PLATFORM", "altcraft")
    monkeypatch.setenv("ALTCRAFT__TOKEN", SECRET)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert "ALTCRAFT__LOYALTY_PROGRAM_ID" in text
    assert SECRET not in text
    assert SECRET not in repr(caught.value)


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(ConfigError, match="platform"):
        load_settings(platform="shopify")


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "PLATFORM=clienttoolbox\nCLIENTTOOLBOX__ACCOUNT_ID=greatwidgets\n"
        f"CLIENTTOOLBOX__USER_ID=john1970\nCLIENTTOOLBOX__USER_API_KEY={SECRET}\n"
        "CAMPAIGN_IDS=111, 222\nCARD__LENGTH=10\nCARD__PREFIX=42\n"
    )
    settings = load_settings()
    assert settings.platform == "clienttoolbox"
    assert settings.campaign_ids == ["111", "222"]
    assert settings.card.length == 10 and settings.card.prefix == "42"
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_bad_region_and_language_are_refused() -> None:
    with pytest.raises(ConfigError, match="default_region"):
        load_settings(default_region="XX")
    with pytest.raises(ConfigError, match="default_language"):
        load_settings(default_language="de")


def test_log_lines_never_carry_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(bot_token=f"123456:{SECRET}")
    logger = logging.getLogger("test.redaction")
    logger.addFilter(SecretRedactor(secret_values(settings)))
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("POST https://api.telegram.org/bot%s/getMe", f"123456:{SECRET}")
        logger.info("token half %s", SECRET)
    assert caplog.records
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert "***" in caplog.records[0].getMessage()
