"""Altcraft connection settings (``ALTCRAFT__*``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AnyHttpUrl, SecretStr

from bot.loyalty.platform import PlatformSettings


class AltcraftMatching(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    PROFILE_ID = "profile_id"
    CUSTOM = "custom"


class AltcraftSettings(PlatformSettings):
    url: AnyHttpUrl = AnyHttpUrl("https://example.com/api/v1.1/")
    token: SecretStr | None = None
    loyalty_program_id: int | None = None
    profiles_db_id: int | None = None
    matching: AltcraftMatching = AltcraftMatching.PHONE
    card_field: str = "card_number"
    """Profile field that holds the card number the bot issues."""
    redeem_path: str = "redeeme_points"
    points_currency_eid: str = ""
    body_format: Literal["json", "xml"] = "json"

    def missing(self) -> list[str]:
        """Settings a real account needs that are empty."""
        return [
            name
            for name, value in (
                ("token", self.token),
                ("loyalty_program_id", self.loyalty_program_id),
                ("profiles_db_id", self.profiles_db_id),
            )
            if value is None
        ]

    def secrets(self) -> list[SecretStr | None]:
        return [self.token]

    def account(self) -> str:
        """The account rows go to (no secret in it)."""
        return f"{self.url}:{self.loyalty_program_id}"
