"""The one place configuration is read: environment variables and an optional ``.env`` file.

Nested settings use ``__``: ``CLIENTTOOLBOX__USER_ID=john1970``. Secrets are ``SecretStr``
and never appear in a log line or an exception text: ``load_settings`` reports a bad or
missing setting by its name and the rule it broke, never by its value.
"""

from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.loyalty.models import CardFormat
from bot.loyalty.options import ClientOptions, HttpSettings
from bot.loyalty.registry import SANDBOX, PlatformFields, names


class ConfigError(Exception):
    """A setting is missing or wrong. The text names settings, never their values."""


class CacheSettings(BaseModel):
    """How long answers that are the same for every member are kept (seconds; 0 = never)."""

    catalog_seconds: float = Field(default=600.0, ge=0)
    """The campaign catalogue (names, kinds, items)."""
    rewards_seconds: float = Field(default=60.0, ge=0)
    """Each campaign's reward list, read by every balance view."""


class SmtpSettings(BaseModel):
    host: str = ""
    port: int = 587
    username: str = ""
    password: SecretStr | None = None
    sender: str = ""
    starttls: bool = True


class ApiSettings(BaseModel):
    """The POS API (``/api/v1/``): signed requests from tills and e-commerce backends."""

    secret: SecretStr | None = None
    """Master key the clients' secrets are derived from (``API__SECRET``); without it, a
    random key kept in the database (a copy of the database could then sign requests)."""
    timestamp_window_seconds: int = Field(default=300, ge=10, le=3600)
    """How far a request's ``X-Timestamp`` may be from now; older ones are refused."""


class BroadcastSettings(BaseModel):
    """``loyalty-bot broadcast``: quiet hours in the shop's time zone (``SHOP_TIMEZONE``)."""

    quiet_from: int = Field(default=21, ge=0, le=23)
    """Hour (0-23) from which broadcasts wait; balance messages never do."""
    quiet_until: int = Field(default=9, ge=0, le=23)
    """Hour at which broadcasts go on again; equal to ``quiet_from``: no quiet hours."""
    per_second: float = Field(default=20.0, gt=0, le=30)
    """Broadcast messages a second, under Telegram's ~30 for one bot (the rest is left to
    the running bot's own messages)."""


class WatcherSettings(BaseModel):
    """The optional watcher of balance changes made elsewhere (the merchant's dashboard,
    another integration): it polls the platform for recently active members."""

    enabled: bool = False
    calls_per_minute: int = Field(default=30, ge=1, le=6000)
    """Platform calls the watcher may make a minute (a history read per member checked)."""
    active_days: int = Field(default=7, ge=1)
    """Members who joined or were served at a kiosk this recently are watched."""


class KioskSettings(BaseModel):
    """The in-store kiosk page (``/kiosk/``): timings, abuse limits and the staff PIN."""

    idle_seconds: int = Field(default=30, ge=5, le=3600)
    """How long a member's screen stays up before the kiosk returns to idle."""
    lookup_limit: int = Field(default=30, ge=1)
    """Card lookups (and joins) a kiosk may make per ``lookup_window_seconds``."""
    lookup_window_seconds: int = Field(default=60, ge=1)
    unknown_card_limit: int = Field(default=5, ge=1)
    """Unknown cards a kiosk may try per ``unknown_card_window_seconds`` (stops enumeration)."""
    unknown_card_window_seconds: int = Field(default=600, ge=1)
    pin_max_failures: int = Field(default=5, ge=1)
    """Wrong staff PINs in a row before the kiosk's staff mode locks."""
    pin_lockout_minutes: int = Field(default=5, ge=1)
    staff_pin: SecretStr | None = None
    """Staff PIN of kiosks added without ``--pin``; none means such kiosks have no staff mode."""
    staff_session_seconds: int = Field(default=300, ge=10)
    pairing_hours: int = Field(default=24, ge=1)
    """How long the one-time pairing link of ``kiosk add`` stays valid."""
    public_url: AnyHttpUrl | None = None
    """The address the kiosk opens, when not ``http://<host>:<port>`` (printed by the CLI)."""

    @field_validator("staff_pin")
    @classmethod
    def _pin_digits(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not (
            value.get_secret_value().isdigit() and 4 <= len(value.get_secret_value()) <= 12
        ):
            raise ValueError("must be 4 to 12 digits")
        return value


class ReferralSettings(BaseModel):
    """Invite a friend: what a friend who joins through a member's invite link brings both."""

    friend_bonus: Decimal | None = Field(default=None, gt=0)
    """Credited to the friend who joins; empty means none."""
    inviter_bonus: Decimal | None = Field(default=None, gt=0)
    """Credited to the member who invited them; empty means none."""
    campaign: str = ""
    """Campaign both bonuses are credited in (points or gift card); empty means the program's
    first points campaign."""
    monthly_cap: int | None = Field(default=20, ge=1)
    """At most this many friends per inviter per month (shop time zone); empty means no cap."""


class BirthdaySettings(BaseModel):
    """The birthday treat: a greeting and, if set, a bonus on the member's birthday."""

    enabled: bool = True
    bonus: Decimal | None = Field(default=None, gt=0)
    """Credited on the day; empty means a greeting only."""
    campaign: str = ""
    """Campaign the bonus is credited in; empty means the program's first points campaign."""
    send_from_hour: int = Field(default=9, ge=0, le=23)
    """Treats go out from this hour of the day, in the shop's time zone."""


WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as a webhook ``secret_token``."""
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
BOT_TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
"""A bot token as aiogram accepts it (the bot's id, a colon, the secret), with no space."""


class WebhookSettings(BaseModel):
    """Receiving updates by webhook instead of long polling (several replicas behind a load
    balancer need it). Empty ``url`` means long polling."""

    url: AnyHttpUrl | None = None
    """The public address Telegram posts updates to, e.g. ``https://bot.example.com/telegram``.
    The bot serves the same path on ``host``:``port``; with no path, ``/telegram/webhook``."""
    secret: SecretStr | None = None
    """Checked on every update (``X-Telegram-Bot-Api-Secret-Token``); empty means one derived
    from the bot token, so every replica with the same token agrees on it."""
    max_connections: int = Field(default=40, ge=1, le=100)
    takeover_seconds: float = Field(default=60.0, ge=2, le=3600)
    """A replica not heard from for this long is taken for dead: the others take over the
    updates it had stored and not handled, and a user's lock it held lapses (so it must be
    longer than handling one update may take); messages it was sending are sent by the
    others after three quarters of it (flagged in doubt)."""

    @field_validator("secret")
    @classmethod
    def _secret_characters(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1 to 256 characters from A-Z, a-z, 0-9, _ and -")
        return value


class Settings(PlatformFields, BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    platform: str = SANDBOX
    """``sandbox`` or one of the registry's platforms (``bot/loyalty/registry.py``)."""
    sandbox_platform: str = names()[0]
    """Which platform the embedded sandbox imitates when ``platform=sandbox``."""

    bot_token: SecretStr | None = None
    telegram_api_url: AnyHttpUrl | None = None
    """Base URL of a self-hosted Bot API server; empty means Telegram's own."""
    bot_username: str = ""
    """The bot's @username for signup links; empty means asked from Telegram (``getMe``)
    at start (the local stand-in's ``great_widgets_bot`` when there is no token)."""
    links_secret: SecretStr | None = None
    """Key that signs signup-link tokens; empty means a random key kept in the database.
    Changing it invalidates every link made before."""

    program_name: str = "Great Widgets Rewards"
    campaign_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Campaigns a new member joins; empty means every campaign of the program."""
    card: CardFormat = CardFormat()
    default_region: str = "US"
    languages: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["en", "ru", "es"])
    default_language: str = "en"

    database: Path = Path("data/loyalty-bot.db")
    """The SQLite file of the bot's own tables (with ``DATABASE_URL`` set: where this host keeps
    its own small files beside it)."""
    database_url: SecretStr | None = None
    """``postgresql://user:password@host:5432/name`` puts the bot's tables on PostgreSQL, shared
    by replicas on several hosts; a plain path is a SQLite file, as ``DATABASE``. Empty means
    ``DATABASE``."""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"

    http: HttpSettings = HttpSettings()
    cache: CacheSettings = CacheSettings()
    smtp: SmtpSettings = SmtpSettings()
    kiosk: KioskSettings = KioskSettings()
    api: ApiSettings = ApiSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    watcher: WatcherSettings = WatcherSettings()
    webhook: WebhookSettings = WebhookSettings()
    referral: ReferralSettings = ReferralSettings()
    birthday: BirthdaySettings = BirthdaySettings()
    shop_timezone: str = "UTC"
    """IANA time zone of the shop (``Europe/Madrid``): when a birthday begins, which month
    an invite counts in."""
    redis_url: SecretStr | None = None
    """``redis://[:password@]host:port/db``: conversation state, per-user ordering and the
    kiosk's visits, staff sessions, limits and PIN tries in Redis, shared by several replicas.
    Empty means they stay in this process and its database."""

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not BOT_TOKEN_SHAPE.fullmatch(value.get_secret_value()):
            raise ValueError(
                "is not a bot token: @BotFather's tokens look like 123456789:AAH… "
                "(digits, a colon, then letters, digits, _ and -)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        text = value.get_secret_value().strip()
        if "://" in text and not text.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be postgresql://user:password@host:port/name or a file path")
        return SecretStr(text)

    @property
    def database_target(self) -> str:
        """Where the bot's tables are: the PostgreSQL URL, or the SQLite file's path."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return str(self.database)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value != SANDBOX and value not in names():
            raise ValueError(f"must be one of {', '.join((SANDBOX, *names()))}")
        return value

    @field_validator("sandbox_platform")
    @classmethod
    def _known_sandbox(cls, value: str) -> str:
        if value not in names():
            raise ValueError(f"must be one of {', '.join(names())}")
        return value

    @field_validator("campaign_ids", "languages", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("shop_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as UTC or Europe/Madrid") from None
        return value

    @property
    def shop_zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.shop_timezone)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter region code such as US, GB or DE")
        return region

    @model_validator(mode="after")
    def _platform_credentials(self) -> Settings:
        if self.default_language not in self.languages:
            raise ValueError("default_language must be one of languages")
        if self.platform != SANDBOX:
            missing = self.platform_settings(self.platform).missing()
            if missing:
                listed = ", ".join(f"{self.platform}.{name}" for name in missing)
                raise ValueError(f"platform={self.platform} needs {listed}")
        # Telegram posts to HTTPS only; a self-hosted Bot API server or the stand-in may not.
        webhook = self.webhook.url
        on_telegram = self.telegram_api_url is None and not self.uses_embedded_telegram
        if webhook is not None and webhook.scheme != "https" and on_telegram:
            raise ValueError("webhook.url must start with https:// (Telegram's rule)")
        return self

    @property
    def uses_embedded_platform(self) -> bool:
        return self.platform == SANDBOX

    @property
    def backend_platform(self) -> str:
        """The platform the client talks to: the configured one, or the sandbox's."""
        return self.sandbox_platform if self.uses_embedded_platform else self.platform

    def client_options(self) -> ClientOptions:
        """What every platform client takes besides its own settings."""
        return ClientOptions(
            http=self.http,
            card=self.card,
            region=self.default_region,
            rewards_ttl=self.cache.rewards_seconds,
        )

    @property
    def uses_embedded_telegram(self) -> bool:
        return self.bot_token is None


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, or raise ``ConfigError`` naming each bad setting without its value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SettingsError as exc:
        # Its text names the field and the source, never the value.
        raise ConfigError(f"Configuration is not valid: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    lines = ["Configuration is not valid:"]
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "settings"
        env_name = "__".join(str(part) for part in error["loc"]).upper() or "settings"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  - {location} (env {env_name}): {message}")
    if len(lines) == 2:
        # One bad setting: one line.
        return f"{lines[0]} {lines[1].removeprefix('  - ')}"
    return "\n".join(lines)
