"""Email codes over real SMTP (a small SMTP server on loopback), and no email joining on a
production platform without SMTP."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import Settings, SmtpSettings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from tests.conftest import ct_settings
from tests.telegram.conftest import MovableClock, start_bot, stop_bot


class Mailbox:
    """A minimal SMTP server: enough of RFC 5321 for ``smtplib.send_message``."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.arrived = asyncio.Event()

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mailbox ready\r\n")
        while line := await reader.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250 mailbox\r\n")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                writer.write(b"250 OK\r\n")
            elif verb == "DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                self.messages.append(
                    email.message_from_bytes(data[:-5], policy=email.policy.default)  # type: ignore[arg-type]
                )
                self.arrived.set()
                writer.write(b"250 queued\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 not implemented\r\n")
            await writer.drain()
        writer.close()


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server = await asyncio.start_server(box.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield box, port


def production_settings(sandbox_url: str, smtp: SmtpSettings | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        platform="clienttoolbox",
        clienttoolbox=ct_settings(sandbox_url),
        bot_token=SecretStr("123456:TEST"),
        smtp=smtp or SmtpSettings(),
    )


async def test_the_code_arrives_by_smtp(
    mailbox: tuple[Mailbox, int],
    ct_sandbox_url: str,
    ct_backend: ClientToolboxClient,
    tmp_path: Path,
    clock: MovableClock,
) -> None:
    box, port = mailbox
    settings = production_settings(
        ct_sandbox_url,
        SmtpSettings(host="127.0.0.1", port=port, sender="rewards@shop.example", starttls=False),
    )
    running = await start_bot(settings, ct_backend, tmp_path / "bot.db", clock)
    try:
        jane = running.user(1001, language_code="ru")
        [welcome] = await jane.send("/start")
        assert "✉️ Вступить по email" in welcome.keyboard
        await jane.send("✉️ Вступить по email")
        [sent] = await jane.send("jane@example.com")
        assert sent.text == "Мы отправили 6-значный код на j***@example.com. Введите его здесь."
        await asyncio.wait_for(box.arrived.wait(), timeout=5)
        [mail] = box.messages
        assert mail["To"] == "jane@example.com" and mail["From"] == "rewards@shop.example"
        body = mail.get_content()
        code = re.search(r"\b(\d{6})\b", body)
        assert code is not None and "10 минут" in body
        [card] = await jane.send(code.group(1))
        assert card.method == "sendPhoto"
        assert await ct_backend.find_member_by_email("jane@example.com") is not None
    finally:
        await stop_bot(running)


async def test_an_unreachable_smtp_server_is_told_plainly(
    ct_sandbox_url: str, ct_backend: ClientToolboxClient, tmp_path: Path, clock: MovableClock
) -> None:
    # Port 9 on loopback: nothing listens, the connection is refused.
    settings = production_settings(ct_sandbox_url, SmtpSettings(host="127.0.0.1", port=9))
    running = await start_bot(settings, ct_backend, tmp_path / "bot.db", clock)
    try:
        jane = running.user(1001)
        await jane.send("✉️ Join with email")
        [answer] = await jane.send("jane@example.com")
        assert answer.text == (
            "We couldn't send an email just now. Please check the address or try again later."
        )
    finally:
        await stop_bot(running)


async def test_no_email_joining_on_a_production_platform_without_smtp(
    ct_sandbox_url: str, ct_backend: ClientToolboxClient, tmp_path: Path, clock: MovableClock
) -> None:
    running = await start_bot(
        production_settings(ct_sandbox_url), ct_backend, tmp_path / "bot.db", clock
    )
    try:
        jane = running.user(1001)
        [welcome] = await jane.send("/start")
        assert welcome.keyboard == ["📱 Join with my phone"]
        [refused] = await jane.send("✉️ Join with email")
        assert refused.text == (
            'Joining with email isn\'t available here. Please tap "📱 Join with my phone".'
        )
    finally:
        await stop_bot(running)
