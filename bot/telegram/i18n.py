"""The chat's translation glue: aiogram's per-update locale and button matching.

Catalogs and their set-up live in ``bot.wording`` (shared with the kiosk). A user's language is
the one they chose (kept in ``MemberLinks``), else their Telegram ``language_code`` when the bot
speaks it, else the configured default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware, get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __

from bot.storage.members import MemberLinks
from bot.wording.catalogs import (
    LOCALES_DIR,
    N_,
    create_i18n,
    language_name,
    supported_language,
)

__all__ = [
    "LOCALES_DIR",
    "N_",
    "ButtonText",
    "LanguageMiddleware",
    "_",
    "__",
    "create_i18n",
    "get_i18n",
    "language_name",
    "ngettext",
    "supported_language",
]

log = logging.getLogger(__name__)


class LanguageMiddleware(I18nMiddleware):
    """The chosen language, else Telegram's when supported, else the default."""

    def __init__(self, i18n: I18n, links: MemberLinks, languages: Iterable[str]) -> None:
        super().__init__(i18n)
        self._links = links
        self.languages = tuple(languages)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        if user is None:
            return self.i18n.default_locale
        try:
            chosen = await self._links.get_language(user.id)
        except Exception:
            # An apology for a broken database must still go out, in some language.
            log.warning("Could not read the language of Telegram user %s", user.id, exc_info=True)
            chosen = None
        if chosen in self.languages:
            return chosen
        return supported_language(user.language_code, self.languages) or (self.i18n.default_locale)


class ButtonText(Filter):
    """Matches a button's text in any of the bot's languages, never a literal in code."""

    def __init__(self, *msgids: str) -> None:
        self.msgids = msgids
        self._known: tuple[I18n, frozenset[str]] | None = None

    def texts(self, i18n: I18n) -> frozenset[str]:
        """The buttons' texts in every language, worked out once per translation set-up (the
        catalogs do not change while the bot runs)."""
        if self._known is None or self._known[0] is not i18n:
            texts = frozenset(
                i18n.gettext(msgid, locale=locale)
                for msgid in self.msgids
                for locale in (*i18n.available_locales, i18n.default_locale)
            )
            self._known = (i18n, texts | frozenset(self.msgids))
        return self._known[1]

    async def __call__(self, message: Message, i18n: I18n) -> bool:
        return message.text is not None and message.text in self.texts(i18n)
