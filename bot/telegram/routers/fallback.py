"""Help, cancelling, and an answer to everything no other router took."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer

from bot.config import Settings
from bot.services.verification import EmailVerification
from bot.storage.members import MemberLink
from bot.telegram import texts
from bot.telegram.callbacks import CancelFlow, Retry, RetryAction
from bot.telegram.i18n import _
from bot.telegram.keyboards import HELP, join_keyboard, member_menu
from bot.telegram.routers.entry import entry_router


def menu(link: MemberLink | None, verification: EmailVerification | None) -> ReplyKeyboardMarkup:
    return member_menu() if link is not None else join_keyboard(email=verification is not None)


def what_i_can_do(link: MemberLink | None, settings: Settings, email: bool) -> str:
    if link is None:
        return texts.join_help(settings.program_name, email=email)
    return texts.help_text()


async def show_help(
    message: Message,
    link: MemberLink | None,
    settings: Settings,
    verification: EmailVerification | None,
) -> None:
    await message.answer(
        what_i_can_do(link, settings, verification is not None),
        reply_markup=menu(link, verification),
    )


async def cancel_command(
    message: Message,
    state: FSMContext,
    link: MemberLink | None,
    verification: EmailVerification | None,
) -> None:
    await state.clear()
    await message.answer(_("OK, cancelled."), reply_markup=menu(link, verification))


async def cancel_button(
    callback: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    link: MemberLink | None,
    verification: EmailVerification | None,
) -> None:
    await state.clear()
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(
        callback.from_user.id, _("OK, cancelled."), reply_markup=menu(link, verification)
    )


async def retry_menu(
    callback: CallbackQuery,
    bot: Bot,
    link: MemberLink | None,
    settings: Settings,
    verification: EmailVerification | None,
) -> None:
    await bot.send_message(
        callback.from_user.id,
        what_i_can_do(link, settings, verification is not None),
        reply_markup=menu(link, verification),
    )


async def unexpected(
    message: Message,
    link: MemberLink | None,
    settings: Settings,
    verification: EmailVerification | None,
) -> None:
    lines = [_("I didn't catch that. Here's what I can do:")]
    if link is None:
        lines.append(texts.join_help(settings.program_name, email=verification is not None))
    else:
        lines.extend(texts.help_text().splitlines()[1:])
    await message.answer("\n".join(lines), reply_markup=menu(link, verification))


async def stale_button(callback: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    callback_answer.text = _("This button is no longer active.")


def create_router() -> Router:
    router = entry_router("fallback", show_help, "help", HELP)
    router.message.register(cancel_command, Command("cancel"))
    router.callback_query.register(cancel_button, CancelFlow.filter())
    router.callback_query.register(retry_menu, Retry.filter(F.action == RetryAction.MENU))
    router.message.register(unexpected)
    router.callback_query.register(stale_button)
    return router
