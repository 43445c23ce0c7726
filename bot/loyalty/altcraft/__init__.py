"""Altcraft: wire format and client, in one package."""

from bot.loyalty.altcraft.client import AltcraftClient

__all__ = ["AltcraftClient"]
