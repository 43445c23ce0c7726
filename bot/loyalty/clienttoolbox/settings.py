"""Client Toolbox connection settings (``CLIENTTOOLBOX__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, SecretStr

from bot.loyalty.platform import PlatformSettings


class ClientToolboxSettings(PlatformSettings):
    url: AnyHttpUrl = AnyHttpUrl("https://api.clienttoolbox.com/api.php")
    account_id: str = ""
    user_id: str = ""
    user_password: SecretStr | None = None
    user_api_key: SecretStr | None = None
    key_in_header: bool = False
    """Send the API key as the ``api_access_key`` header instead of in the body."""
    output: Literal["json", "xml"] = "json"

    def missing(self) -> list[str]:
        """Settings a real account needs that are empty."""
        missing = [
            name
            for name, value in (("account_id", self.account_id), ("user_id", self.user_id))
            if not value
        ]
        if self.user_password is None and self.user_api_key is None:
            missing.append("user_password or user_api_key")
        return missing

    def secrets(self) -> list[SecretStr | None]:
        return [self.user_password, self.user_api_key]

    def account(self) -> str:
        """The account rows go to (no secret in it)."""
        return f"{self.url}:{self.account_id}"
