"""Balances: every campaign in its own unit, rewards available now, progress to the next."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.loyalty.base import LoyaltyBackend
from bot.services.balances import member_balances
from bot.storage.members import MemberLink
from bot.telegram import texts
from bot.telegram.callbacks import BalanceRefresh, RetryAction
from bot.telegram.i18n import _
from bot.telegram.keyboards import BALANCE, balance_actions
from bot.telegram.routers.entry import entry_router

FLAGS = {"member": True, "retry": RetryAction.BALANCE}


async def balance_text(backend: LoyaltyBackend, link: MemberLink) -> str:
    return texts.balances(await member_balances(backend, link.member_code))


async def show_balance(
    message: Message, state: FSMContext, backend: LoyaltyBackend, link: MemberLink
) -> None:
    await state.clear()
    await message.answer(await balance_text(backend, link), reply_markup=balance_actions())


async def retry_balance(
    callback: CallbackQuery, bot: Bot, backend: LoyaltyBackend, link: MemberLink
) -> None:
    text = await balance_text(backend, link)
    await bot.send_message(link.telegram_user_id, text, reply_markup=balance_actions())


async def refresh_balance(
    callback: CallbackQuery,
    callback_answer: CallbackAnswer,
    backend: LoyaltyBackend,
    link: MemberLink,
) -> None:
    text = await balance_text(backend, link)
    message = callback.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=balance_actions())
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise
    callback_answer.text = _("Up to date")


def create_router() -> Router:
    router = entry_router(
        "balance", show_balance, "balance", BALANCE, flags=FLAGS, retry=retry_balance
    )
    router.callback_query.register(refresh_balance, BalanceRefresh.filter(), flags=FLAGS)
    return router
