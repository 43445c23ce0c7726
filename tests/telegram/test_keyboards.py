"""Keyboards are built once per language and arguments, and never shown in another language."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup

from bot.telegram.callbacks import RetryAction
from bot.telegram.keyboards import balance_actions, join_keyboard, member_menu, try_again
from bot.wording.catalogs import LOCALES_DIR, create_i18n


def button_texts(markup: InlineKeyboardMarkup | ReplyKeyboardMarkup) -> list[str]:
    rows = markup.inline_keyboard if isinstance(markup, InlineKeyboardMarkup) else markup.keyboard
    return [button.text for row in rows for button in row]


def test_each_language_gets_its_own_keyboard_built_once() -> None:
    i18n = create_i18n("en", LOCALES_DIR)
    shown = {}
    for language in ("en", "ru", "es", "en", "ru"):
        with i18n.context(), i18n.use_locale(language):
            markup = balance_actions()
            assert markup is balance_actions(), "built again in the same language"
            assert button_texts(markup) == [
                i18n.gettext("🔄 Refresh", locale=language),
                i18n.gettext("🧾 History", locale=language),
            ]
            shown.setdefault(language, markup)
            assert shown[language] is markup
    assert button_texts(shown["ru"]) != button_texts(shown["en"])


def test_arguments_and_catalogs_are_part_of_the_key() -> None:
    first, second = create_i18n("en", LOCALES_DIR), create_i18n("en", LOCALES_DIR)
    with first.context(), first.use_locale("es"):
        menu = member_menu()
        with_email = join_keyboard(email=True)
        without = join_keyboard(email=False)
        retry_join = try_again(RetryAction.JOIN)
        retry_menu = try_again(RetryAction.MENU)
    assert len(button_texts(with_email)) == 2 and len(button_texts(without)) == 1
    assert retry_join.inline_keyboard[0][0].callback_data != (
        retry_menu.inline_keyboard[0][0].callback_data
    )
    with second.context(), second.use_locale("es"):
        assert member_menu() is not menu
        assert button_texts(member_menu()) == button_texts(menu)
