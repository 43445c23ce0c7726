"""Logging set-up: one format, quiet HTTP libraries, and no secret in any line.

The redaction is a second line of defence: code never logs a secret on purpose, but a
library might (a bot token sits in every Bot API URL path), and so might a server's error reply
(an SMTP server echoing the base64 login). It applies to the whole formatted line, traceback
included. The SQLite driver logs every statement with its parameters (phones, names) at DEBUG,
so it is kept at INFO whatever the level.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from bot.config import Settings
from bot.loyalty.registry import names

REDACTED = "***"


class SecretRedactor(logging.Filter):
    """Replace every known secret value in a record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output (exception text and stack included) is redacted."""

    def __init__(self, fmt: str, redactor: SecretRedactor) -> None:
        super().__init__(fmt)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def _smtp_login_forms(username: str, password: str) -> list[str]:
    """What smtplib sends for a login, base64-encoded: AUTH LOGIN's password line and AUTH
    PLAIN's ``\\0user\\0password``; a server may quote either in its error reply."""
    if not password:
        return []
    forms = [password.encode(), f"\0{username}\0{password}".encode()]
    return [base64.b64encode(form).decode("ascii") for form in forms]


def _redis_url_secrets(url: str) -> list[str]:
    values = [url]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        values += [password, unquote(password)]
    return values


def secret_values(settings: Settings) -> list[str]:
    candidates: list[SecretStr | None] = [
        settings.bot_token,
        settings.smtp.password,
        settings.links_secret,
        settings.kiosk.staff_pin,
        settings.webhook.secret,
    ]
    for name in names():
        candidates += settings.platform_settings(name).secrets()
    values = [secret.get_secret_value() for secret in candidates if secret is not None]
    if settings.smtp.password is not None:
        values += _smtp_login_forms(
            settings.smtp.username, settings.smtp.password.get_secret_value()
        )
    if settings.redis_url is not None:
        values += _redis_url_secrets(settings.redis_url.get_secret_value())
    if settings.bot_token is not None:
        # The part after the colon is the secret half of a bot token.
        values.append(settings.bot_token.get_secret_value().partition(":")[2])
    return values


def configure_logging(settings: Settings, extra_secrets: Iterable[str] = ()) -> None:
    redactor = SecretRedactor([*secret_values(settings), *extra_secrets])
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", redactor)
    )
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Its DEBUG lines quote every statement's parameters: phones, names, emails.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
