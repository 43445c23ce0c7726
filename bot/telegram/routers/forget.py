"""Forget me: unlink this chat from the card and erase what the bot keeps about the user."""

from __future__ import annotations

import logging
from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.services.verification import EmailVerification
from bot.storage.members import MemberLinks
from bot.telegram.callbacks import ForgetAnswer, ForgetAsk
from bot.telegram.i18n import _
from bot.telegram.keyboards import forget_confirmation, join_keyboard

log = logging.getLogger(__name__)


def question(program_name: str) -> str:
    return "\n".join(
        [
            _("🗑 Forget me?"),
            _(
                "This unlinks your card from this chat and erases what this bot keeps about "
                "you: the link, your language, codes and unfinished requests."
            ),
            _("Your rewards account and its balance stay with {program}.").format(
                program=escape(program_name)
            ),
        ]
    )


async def ask_forget(message: Message, settings: Settings) -> None:
    await message.answer(question(settings.program_name), reply_markup=forget_confirmation())


async def ask_forget_from_profile(callback: CallbackQuery, bot: Bot, settings: Settings) -> None:
    await bot.send_message(
        callback.from_user.id, question(settings.program_name), reply_markup=forget_confirmation()
    )


async def forget(
    callback: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    links: MemberLinks,
    settings: Settings,
    verification: EmailVerification | None,
) -> None:
    user_id = callback.from_user.id
    await state.clear()
    erased = await links.forget(user_id)
    log.info("Forgot Telegram user %s (%d rows erased)", user_id, erased)
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(
        user_id,
        "\n".join(
            [
                _(
                    "Done. This chat is no longer linked to your card, and the bot has erased "
                    "what it kept about you."
                ),
                _("Your rewards account stays with {program}. Type /start to join again.").format(
                    program=escape(settings.program_name)
                ),
            ]
        ),
        reply_markup=join_keyboard(email=verification is not None),
    )


async def keep(callback: CallbackQuery, bot: Bot) -> None:
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(callback.from_user.id, _("OK, nothing was erased."))


def create_router() -> Router:
    router = Router(name="forget")
    router.message.register(ask_forget, Command("forget"))
    router.callback_query.register(ask_forget_from_profile, ForgetAsk.filter())
    router.callback_query.register(forget, ForgetAnswer.filter(F.confirmed))
    router.callback_query.register(keep, ForgetAnswer.filter(~F.confirmed))
    return router
