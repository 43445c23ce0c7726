"""Language: chosen per user and kept in ``MemberLinks`` (not in the FSM data)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n

from bot.services.verification import EmailVerification
from bot.storage.members import MemberLink, MemberLinks
from bot.telegram.callbacks import LanguageChoice
from bot.telegram.i18n import _
from bot.telegram.keyboards import LANGUAGE, join_keyboard, language_choice, member_menu
from bot.telegram.routers.entry import entry_router


async def choose_language(
    message: Message, state: FSMContext, i18n: I18n, languages: tuple[str, ...]
) -> None:
    await state.clear()
    await message.answer(
        _("🌐 Choose your language:"),
        reply_markup=language_choice(languages, i18n.current_locale),
    )


async def language_chosen(
    callback: CallbackQuery,
    callback_data: LanguageChoice,
    bot: Bot,
    i18n: I18n,
    links: MemberLinks,
    link: MemberLink | None,
    languages: tuple[str, ...],
    verification: EmailVerification | None,
) -> None:
    code = callback_data.code
    if code not in languages:
        return
    await links.set_language(callback.from_user.id, code)
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
    with i18n.use_locale(code):
        # The reply keyboard is sent again so its buttons speak the new language too.
        markup = member_menu() if link else join_keyboard(email=verification is not None)
        await bot.send_message(
            callback.from_user.id, _("✅ From now on I'll speak English."), reply_markup=markup
        )


def create_router() -> Router:
    router = entry_router("language", choose_language, "language", LANGUAGE)
    router.callback_query.register(language_chosen, LanguageChoice.filter())
    return router
