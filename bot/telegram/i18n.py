"""Translations: Babel catalogs in ``locales/``, compiled at start, chosen per user.

The ``.po`` files are the source; the ``.mo`` files are built from them when the bot starts
(next to them when the folder is writable, in a cache folder otherwise) and never committed.
A user's language is the one they chose (kept in ``MemberLinks``), else their Telegram
``language_code`` when the bot speaks it, else the configured default.

Maintainers refresh the template and the catalogs after changing texts with
``python -m bot.telegram.i18n update``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware, get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.storage.members import MemberLinks

__all__ = [
    "DOMAIN",
    "LOCALES_DIR",
    "N_",
    "ButtonText",
    "LanguageMiddleware",
    "_",
    "__",
    "compile_catalogs",
    "create_i18n",
    "extract_messages",
    "get_i18n",
    "language_name",
    "ngettext",
]

log = logging.getLogger(__name__)

DOMAIN = "messages"
LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
SOURCE_DIR = Path(__file__).resolve().parent
SOURCE_DIRS = (SOURCE_DIR, SOURCE_DIR.parent / "kiosk")
"""Texts are extracted from the Telegram side and the kiosk: services never word anything."""
KEYWORDS: dict[str, Any] = {"_": None, "__": None, "N_": None, "ngettext": (1, 2)}


def N_(msgid: str) -> str:
    """Mark a text for translation where it is defined; ``_()`` translates it where shown."""
    return msgid


def _catalog_paths(locales_dir: Path) -> list[tuple[str, Path]]:
    return sorted(
        (po.parent.parent.name, po) for po in locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )


def _write_atomically(target: Path, catalog: Catalog) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _compile_into(locales_dir: Path, target_dir: Path) -> None:
    for language, po_path in _catalog_paths(locales_dir):
        mo_path = target_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        _write_atomically(mo_path, catalog)


def compile_catalogs(locales_dir: Path = LOCALES_DIR, target_dir: Path | None = None) -> Path:
    """Build every ``<lang>/LC_MESSAGES/messages.mo`` from its ``.po``; returns their folder.

    Up-to-date ``.mo`` files are kept. Without ``target_dir`` the files go next to the
    ``.po`` files, or to a cache folder when ``locales_dir`` is read-only.
    """
    if not _catalog_paths(locales_dir):
        raise FileNotFoundError(f"no {DOMAIN}.po catalogs under {locales_dir}")
    if target_dir is not None:
        _compile_into(locales_dir, target_dir)
        return target_dir
    try:
        _compile_into(locales_dir, locales_dir)
        return locales_dir
    except OSError:
        cache_dir = Path(tempfile.gettempdir()) / f"loyalty-bot-locales-{os.getuid()}"
        _compile_into(locales_dir, cache_dir)
        return cache_dir


def create_i18n(default_language: str, locales_dir: Path = LOCALES_DIR) -> I18n:
    return I18n(path=compile_catalogs(locales_dir), default_locale=default_language, domain=DOMAIN)


@cache
def language_name(code: str) -> str:
    """A language's name in that language: ``English``, ``Русский``, ``Español``."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def supported_language(code: str | None, languages: Iterable[str]) -> str | None:
    """The bot's language matching Telegram's ``language_code`` (``pt-br`` → ``pt``), if any."""
    if not code:
        return None
    available = list(languages)
    candidates = [code.replace("-", "_"), code.split("-")[0].split("_")[0].lower()]
    for candidate in candidates:
        if candidate in available:
            return candidate
    return None


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

    def texts(self, i18n: I18n) -> set[str]:
        return {
            i18n.gettext(msgid, locale=locale)
            for msgid in self.msgids
            for locale in (*i18n.available_locales, i18n.default_locale)
        } | set(self.msgids)

    async def __call__(self, message: Message, i18n: I18n) -> bool:
        return message.text is not None and message.text in self.texts(i18n)


def extract_messages(*source_dirs: Path) -> Catalog:
    """The template catalog: every text the Telegram side and the kiosk translate."""
    catalog = Catalog(domain=DOMAIN, project="loyalty-bot", version="0.1.0", charset="utf-8")
    for source_dir in source_dirs or SOURCE_DIRS:
        root = source_dir.parents[1]
        for filename, lineno, message, comments, context in extract_from_dir(
            source_dir, keywords=KEYWORDS, comment_tags=("Translators:",)
        ):
            path = (source_dir / filename).relative_to(root).as_posix()
            catalog.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return catalog


def msgids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    """The message ids of a catalog (a plural message by its singular and plural forms)."""
    return {
        message.id if isinstance(message.id, str) else tuple(message.id)
        for message in catalog
        if message.id
    }


def update_catalogs(locales_dir: Path = LOCALES_DIR) -> None:
    """Rewrite ``messages.pot`` from the code and merge it into every ``.po``."""
    template = extract_messages()
    with (locales_dir / f"{DOMAIN}.pot").open("wb") as out:
        write_po(out, template, width=99, include_lineno=False)
    for language, po_path in _catalog_paths(locales_dir):
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        with po_path.open("wb") as out:
            write_po(out, catalog, width=99, ignore_obsolete=True, include_lineno=False)


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["update"]:
        sys.exit("usage: python -m bot.telegram.i18n update")
    update_catalogs()
    print(f"updated {LOCALES_DIR / (DOMAIN + '.pot')} and its catalogs")
