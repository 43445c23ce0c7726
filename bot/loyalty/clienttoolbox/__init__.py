"""Client Toolbox (Sticky Street): wire format and client, in one package."""

from bot.loyalty.clienttoolbox.client import ClientToolboxClient

__all__ = ["ClientToolboxClient"]
