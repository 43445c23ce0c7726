"""Options every platform client takes, whatever the platform (the app's ``Settings`` holds
them, but the clients never see ``Settings`` itself)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from bot.loyalty.models import CardFormat


class HttpSettings(BaseModel):
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    pool_size: int = Field(default=20, ge=1)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """What a platform client needs beyond its own connection settings."""

    http: HttpSettings = field(default_factory=HttpSettings)
    card: CardFormat = field(default_factory=CardFormat)
    region: str = "US"
    """Region for phone numbers written without a country code."""
    rewards_ttl: float = 0.0
    """Seconds a campaign's reward list is kept (0 = never)."""
