"""The loyalty platforms the product knows: one entry each, the only list of them.

Adding a platform: write ``bot/loyalty/<name>/`` (settings, wire, client, ``entry.py``) and its
sandbox ``bot/sandbox/<name>/``, then add one field to ``PlatformFields`` and one entry to
``PLATFORMS`` below (see ``docs/architecture.md``, "Adding a platform").
"""

from __future__ import annotations

from pydantic import BaseModel

from bot.loyalty.altcraft.entry import ENTRY as ALTCRAFT
from bot.loyalty.altcraft.settings import AltcraftSettings
from bot.loyalty.clienttoolbox.entry import ENTRY as CLIENTTOOLBOX
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.loyalty.platform import PlatformEntry, PlatformSettings

PLATFORMS: tuple[PlatformEntry, ...] = (CLIENTTOOLBOX, ALTCRAFT)
"""Every platform; the first is the one the embedded sandbox imitates by default."""

SANDBOX = "sandbox"
"""``PLATFORM=sandbox``: the embedded sandbox of ``SANDBOX_PLATFORM`` on loopback."""


class PlatformFields(BaseModel):
    """Each platform's settings, under its name (``CLIENTTOOLBOX__USER_ID`` …); the app's
    ``Settings`` inherits these fields."""

    clienttoolbox: ClientToolboxSettings = ClientToolboxSettings()
    altcraft: AltcraftSettings = AltcraftSettings()

    def platform_settings(self, name: str) -> PlatformSettings:
        """The settings of platform ``name``."""
        value = getattr(self, platform(name).name)
        if not isinstance(value, PlatformSettings):  # pragma: no cover - a registry mistake
            raise TypeError(f"settings of {name} are not PlatformSettings")
        return value


def names() -> tuple[str, ...]:
    return tuple(entry.name for entry in PLATFORMS)


def platform(name: str) -> PlatformEntry:
    """The entry of platform ``name``; ``KeyError`` naming the known ones otherwise."""
    for entry in PLATFORMS:
        if entry.name == name:
            return entry
    raise KeyError(f"no platform {name!r}; the platforms are {', '.join(names())}")
