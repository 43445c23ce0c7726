"""Translations: complete in every language, in step with the code, compiled at start."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.telegram.keyboards import ALL_BUTTONS
from bot.wording.catalogs import (
    DOMAIN,
    LOCALES_DIR,
    compile_catalogs,
    create_i18n,
    extract_messages,
    msgids,
)

LANGUAGES = ("en", "ru", "es")


def catalog(language: str) -> Catalog:
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=language)


def template() -> Catalog:
    with (LOCALES_DIR / f"{DOMAIN}.pot").open("rb") as source:
        return read_po(source)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_template_is_not_stale() -> None:
    in_code = msgids(extract_messages())
    assert in_code, "no texts found in the code"
    in_template = msgids(template())
    assert in_code - in_template == set(), "run: python -m bot.wording.catalogs update"
    assert in_template - in_code == set(), "run: python -m bot.wording.catalogs update"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated(language: str) -> None:
    translations = {
        (m.id if isinstance(m.id, str) else tuple(m.id)): m for m in catalog(language) if m.id
    }
    for msgid in msgids(template()):
        message = translations.get(msgid)
        assert message is not None, f"{language}: {msgid!r} is missing"
        assert not message.fuzzy, f"{language}: {msgid!r} is fuzzy"
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert forms and all(forms), f"{language}: {msgid!r} is not translated"
        expected = fields(msgid if isinstance(msgid, str) else msgid[-1])
        for form in forms:
            assert fields(form) == expected, f"{language}: {form!r} has other placeholders"


def test_russian_has_three_plural_forms() -> None:
    assert catalog("ru").num_plurals == 3


def test_compiling_builds_every_language(tmp_path: Path) -> None:
    target = compile_catalogs(LOCALES_DIR, tmp_path)
    built = sorted(path.parent.parent.name for path in target.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    assert built == sorted(LANGUAGES)


def test_compiled_catalogs_translate_with_plurals() -> None:
    i18n = create_i18n("en")
    assert set(LANGUAGES) <= set(i18n.available_locales)
    plural = ("{points} point", "{points} points")
    assert [i18n.gettext(*plural, n, locale="ru").format(points=n) for n in (1, 3, 5, 21)] == [
        "1 балл",
        "3 балла",
        "5 баллов",
        "21 балл",
    ]
    assert i18n.gettext("⭐ Balance", locale="es") == "⭐ Saldo"


def test_a_changed_catalog_is_compiled_again(tmp_path: Path) -> None:
    source = tmp_path / "locales"
    po = source / "en" / "LC_MESSAGES" / f"{DOMAIN}.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Hi"\nmsgstr "Hello"\n', encoding="utf-8")
    target = compile_catalogs(source, tmp_path / "built")
    mo = target / "en" / "LC_MESSAGES" / f"{DOMAIN}.mo"
    first = mo.read_bytes()
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Hi"\nmsgstr "Howdy"\n', encoding="utf-8")
    os.utime(po, (mo.stat().st_mtime + 5, mo.stat().st_mtime + 5))
    compile_catalogs(source, tmp_path / "built")
    assert mo.read_bytes() != first and b"Howdy" in mo.read_bytes()


def test_button_texts_are_distinct_in_every_language() -> None:
    i18n = create_i18n("en")
    for language in LANGUAGES:
        texts = [i18n.gettext(button, locale=language) for button in ALL_BUTTONS]
        assert len(set(texts)) == len(texts), f"{language}: two buttons share a text"
        assert all(re.match(r"^\S+ \S", text) for text in texts), texts
