"""Logging set-up: one format, quiet HTTP libraries, and no secret in any line.

The redaction filter is a second line of defence: code never logs a secret on purpose, but a
library might (a bot token sits in every Bot API URL path).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import SecretStr

from bot.config import Settings

REDACTED = "***"


class SecretRedactor(logging.Filter):
    """Replace every known secret value in a record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def secret_values(settings: Settings) -> list[str]:
    candidates: list[SecretStr | None] = [
        settings.bot_token,
        settings.clienttoolbox.user_password,
        settings.clienttoolbox.user_api_key,
        settings.altcraft.token,
        settings.smtp.password,
        settings.links_secret,
        settings.kiosk.staff_pin,
    ]
    values = [secret.get_secret_value() for secret in candidates if secret is not None]
    if settings.bot_token is not None:
        # The part after the colon is the secret half of a bot token.
        values.append(settings.bot_token.get_secret_value().partition(":")[2])
    return values


def configure_logging(settings: Settings, extra_secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretRedactor([*secret_values(settings), *extra_secrets]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
