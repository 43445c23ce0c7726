"""The log at DEBUG, as ``configure_logging`` sets it up, holds no secret and no phone number:
an SMTP server echoing the login, Redis with a password, the SQLite driver writing a walk-in's
phone, a library quoting a Bot API URL. A malformed ``BOT_TOKEN`` is one line naming it."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.__main__ import main
from bot.config import Settings, SmtpSettings
from bot.logs import configure_logging
from bot.services.verification import CodeMail, DeliveryFailed, EmailVerification, SmtpCodeSender
from bot.storage.database import open_database
from bot.storage.kiosks import Kiosks
from bot.storage.verification import EmailCodes
from bot.telegram.sessions import SessionStoreUnreachable, check_session_store, redis_storage

TOKEN = "987654321:AAHsecretHalfOfTheBotToken_0123456789"
SMTP_USER = "mailer@shop.example"
SMTP_PASSWORD = "Sm7p-Pa55word!"
REDIS_PASSWORD = "r3dis-Pa55word"
PHONE = "+12025550143"
MALFORMED_TOKEN = "98765 4321:AAHmalformedButSecretPart"


class EchoingSmtpServer:
    """An SMTP server offering AUTH PLAIN and LOGIN that quotes what it got in its refusal,
    as some servers do."""

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 echo ready\r\n")
        while line := await reader.readline():
            text = line.decode().strip()
            verb = text.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250-echo\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == "AUTH" and text.upper().startswith("AUTH LOGIN"):
                writer.write(b"334 UGFzc3dvcmQ6\r\n")
                await writer.drain()
                password_line = (await reader.readline()).decode().strip()
                writer.write(f"535 5.7.8 authentication failed for {password_line}\r\n".encode())
            elif verb == "AUTH":
                writer.write(f"535 5.7.8 authentication failed: {text}\r\n".encode())
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 not implemented\r\n")
            await writer.drain()
        writer.close()


@pytest.fixture
async def smtp_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(EchoingSmtpServer().session, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("aiosqlite", "httpx", "httpcore")}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, previous in levels.items():
            logging.getLogger(name).setLevel(previous)


def _code_mail(to: str, code: str) -> CodeMail:
    return CodeMail(to=to, code=code, subject="Your code", body=f"Your code is {code}")


def forbidden() -> list[str]:
    plain = f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()
    return [
        TOKEN,
        TOKEN.partition(":")[2],
        MALFORMED_TOKEN,
        "AAHmalformedButSecretPart",
        SMTP_PASSWORD,
        base64.b64encode(SMTP_PASSWORD.encode()).decode(),
        base64.b64encode(plain).decode(),
        REDIS_PASSWORD,
        PHONE,
        PHONE[1:],
        "202-555-0143",
    ]


async def test_the_debug_log_holds_no_secret_and_no_phone(
    tmp_path: Path,
    smtp_port: int,
    redis_url: str,
    restored_logging: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with_password = redis_url.replace("redis://", f"redis://:{REDIS_PASSWORD}@")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token=SecretStr(TOKEN),
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=smtp_port,
            username=SMTP_USER,
            password=SecretStr(SMTP_PASSWORD),
            starttls=False,
        ),
        redis_url=SecretStr(with_password),
        log_level="DEBUG",
    )
    configure_logging(settings)
    log = logging.getLogger("tests.log_secrets")

    db = await open_database(tmp_path / "bot.db")
    try:
        # SMTP: the server's refusal quotes the base64 login lines.
        sender = SmtpCodeSender(
            "127.0.0.1", smtp_port, sender=SMTP_USER, username=SMTP_USER,
            password=SMTP_PASSWORD, starttls=False,
        )  # fmt: skip
        verification = EmailVerification(
            EmailCodes(db), sender, clock=lambda: dt.datetime.now(dt.UTC)
        )
        with pytest.raises(DeliveryFailed) as failed:
            await verification.start(1001, "jane@example.com", _code_mail)
        log.exception("Sending the code failed", exc_info=failed.value)

        # The database driver at DEBUG while a walk-in's phone is written.
        kiosks = Kiosks(db)
        kiosk = await kiosks.add(
            "Main Street", pairing_hash="x" * 64, pairing_expires_at=dt.datetime.now(dt.UTC)
        )
        await kiosks.start_join(kiosk.id, PHONE, "7000000000000001")
        assert await db.fetch_one("SELECT contact FROM kiosk_joins") is not None
    finally:
        await db.close()

    # Redis behind a password: sessions holding a phone go in and out, and a wrong password
    # is refused.
    unprotected = Redis.from_url(redis_url)
    await unprotected.config_set("requirepass", REDIS_PASSWORD)
    await unprotected.aclose()
    storage = redis_storage(with_password)
    key = StorageKey(bot_id=42, chat_id=1001, user_id=1001)
    try:
        await check_session_store(storage)
        await storage.set_data(key, {"phone": PHONE})
        assert (await storage.get_data(key))["phone"] == PHONE
    finally:
        await storage.close()
    wrong = redis_storage(redis_url.replace("redis://", "redis://:wrong-password@"))
    try:
        with pytest.raises(SessionStoreUnreachable) as unreachable:
            await check_session_store(wrong)
        log.warning("Sessions: %s", unreachable.value)
    finally:
        await wrong.close()
    logging.getLogger("redis.connection").debug("Connecting to %s", with_password)
    # A library quoting a Bot API URL.
    logging.getLogger("aiohttp.client").debug("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    # A malformed token: `run` ends with one line naming BOT_TOKEN, the token in no line.
    _without_bot_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("BOT_TOKEN", MALFORMED_TOKEN)
    with pytest.raises(SystemExit):
        main(["run"])

    logged = capsys.readouterr().err
    assert "DEBUG" in logged and "Sending the code failed" in logged, logged
    assert "redis.connection" in logged and "api.telegram.org/bot***" in logged
    assert "bot_token (env BOT_TOKEN): is not a bot token" in logged
    # The only traceback is the one this test logged on purpose (the SMTP failure).
    assert logged.count("Traceback (most recent call last)") == 1
    leaked = [secret for secret in forbidden() if secret in logged]
    assert leaked == [], logged


def _without_bot_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.e2e.conftest import clean_environment

    for name in os.environ.keys() - clean_environment().keys():
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("command", ["run", "doctor"])
@pytest.mark.parametrize("token", ["not-a-token", "123456:abc def" + TOKEN[-12:], ":" + TOKEN])
def test_a_malformed_bot_token_is_one_line_naming_it(
    command: str,
    token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restored_logging: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _without_bot_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("BOT_TOKEN", token)
    with pytest.raises(SystemExit) as ended:
        main([command])
    assert ended.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "BOT_TOKEN" in lines[0] and "not a bot token" in lines[0]
    assert "Traceback" not in captured.err
    assert token not in captured.err + captured.out
