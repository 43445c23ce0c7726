"""History: the member's recent transactions, ten at a time, paged in place."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.loyalty.base import LoyaltyBackend
from bot.services.catalog import CampaignCatalog
from bot.services.history import history_page
from bot.storage.members import MemberLink
from bot.telegram import texts
from bot.telegram.callbacks import HistoryPage, RetryAction, ShowHistory
from bot.telegram.keyboards import HISTORY, history_pager
from bot.telegram.routers.entry import entry_router

FLAGS = {"member": True, "retry": RetryAction.HISTORY}


async def render_page(
    backend: LoyaltyBackend, catalog: CampaignCatalog, link: MemberLink, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    result = await history_page(backend, catalog, link.member_code, page)
    pager = history_pager(result.page, has_previous=result.has_previous, has_next=result.has_next)
    return texts.history(result), pager


async def show_history(
    message: Message,
    state: FSMContext,
    backend: LoyaltyBackend,
    catalog: CampaignCatalog,
    link: MemberLink,
) -> None:
    await state.clear()
    text, pager = await render_page(backend, catalog, link, 0)
    await message.answer(text, reply_markup=pager)


async def open_history(
    callback: CallbackQuery,
    bot: Bot,
    backend: LoyaltyBackend,
    catalog: CampaignCatalog,
    link: MemberLink,
) -> None:
    text, pager = await render_page(backend, catalog, link, 0)
    await bot.send_message(link.telegram_user_id, text, reply_markup=pager)


async def turn_page(
    callback: CallbackQuery,
    callback_data: HistoryPage,
    backend: LoyaltyBackend,
    catalog: CampaignCatalog,
    link: MemberLink,
) -> None:
    text, pager = await render_page(backend, catalog, link, callback_data.page)
    if isinstance(callback.message, Message):
        try:
            await callback.message.edit_text(text, reply_markup=pager)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise


def create_router() -> Router:
    router = entry_router(
        "history", show_history, "history", HISTORY, flags=FLAGS, retry=open_history
    )
    router.callback_query.register(open_history, ShowHistory.filter(), flags=FLAGS)
    router.callback_query.register(turn_page, HistoryPage.filter(), flags=FLAGS)
    return router
