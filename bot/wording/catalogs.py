"""Translations shared by the chat and the kiosk: Babel catalogs in ``locales/``, compiled at
start.

The ``.po`` files are the source; the ``.mo`` files are built from them when the bot starts
(next to them when the folder is writable, in a cache folder otherwise) and never committed.
Texts are extracted from the whole ``bot`` package (services never word anything, so in practice
from the front ends and from ``bot/wording``).

Maintainers refresh the template and the catalogs after changing texts with
``python -m bot.wording.catalogs update``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from aiogram.utils.i18n import I18n
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

__all__ = [
    "DOMAIN",
    "LOCALES_DIR",
    "N_",
    "I18n",
    "compile_catalogs",
    "create_i18n",
    "extract_messages",
    "language_name",
    "msgids",
    "supported_language",
    "update_catalogs",
]

DOMAIN = "messages"
PROJECT_DIR = Path(__file__).resolve().parents[2]
LOCALES_DIR = PROJECT_DIR / "locales"
SOURCE_DIR = PROJECT_DIR / "bot"
"""Texts are extracted from the whole package: no front end is named here."""
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


def extract_messages(*source_dirs: Path) -> Catalog:
    """The template catalog: every text the code translates."""
    catalog = Catalog(domain=DOMAIN, project="loyalty-bot", version="0.1.0", charset="utf-8")
    for source_dir in source_dirs or (SOURCE_DIR,):
        root = PROJECT_DIR
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
        sys.exit("usage: python -m bot.wording.catalogs update")
    update_catalogs()
    print(f"updated {LOCALES_DIR / (DOMAIN + '.pot')} and its catalogs")
