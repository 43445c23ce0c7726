"""Wording shared by the chat and the kiosk: translation set-up and catalogs (``catalogs``),
numbers, money, points and visits in a language (``units``). Nothing here knows Telegram or
the kiosk page."""
