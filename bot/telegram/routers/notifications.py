"""Notifications: the member turns balance-change messages and news (broadcasts) off and on."""

from __future__ import annotations

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.storage.members import MemberLink
from bot.storage.notifications import NotificationSettings, Switches
from bot.telegram.callbacks import NotificationSwitch
from bot.telegram.i18n import _
from bot.telegram.keyboards import NOTIFICATIONS, notification_switches
from bot.telegram.routers.entry import entry_router

FLAGS = {"member": True}
SWITCHES = ("balance", "broadcasts")


def switches_text(switches: Switches) -> str:
    on, off = _("on"), _("off")
    return "\n".join(
        [
            _("🔔 Messages I send you"),
            "",
            _("Balance changes (purchases, rewards, bonuses): {state}").format(
                state=on if switches.balance else off
            ),
            _("News and offers: {state}").format(state=on if switches.broadcasts else off),
        ]
    )


async def show_switches(
    message: Message,
    state: FSMContext,
    link: MemberLink,
    notification_settings: NotificationSettings,
) -> None:
    await state.clear()
    # They wrote to the bot, so it is not blocked (any more): broadcasts reach them again.
    await notification_settings.mark_reachable(link.telegram_user_id)
    switches = await notification_settings.get(link.telegram_user_id)
    await message.answer(
        switches_text(switches),
        reply_markup=notification_switches(
            balance=switches.balance, broadcasts=switches.broadcasts
        ),
    )


async def switch(
    callback: CallbackQuery,
    callback_data: NotificationSwitch,
    callback_answer: CallbackAnswer,
    link: MemberLink,
    notification_settings: NotificationSettings,
) -> None:
    if callback_data.switch not in SWITCHES:
        return
    switches = await notification_settings.turn(
        link.telegram_user_id, **{callback_data.switch: callback_data.on}
    )
    callback_answer.text = _("Saved")
    message = callback.message
    if isinstance(message, Message):
        try:
            await message.edit_text(
                switches_text(switches),
                reply_markup=notification_switches(
                    balance=switches.balance, broadcasts=switches.broadcasts
                ),
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise


def create_router() -> Router:
    router = entry_router(
        "notifications", show_switches, "notifications", NOTIFICATIONS, flags=FLAGS
    )
    router.callback_query.register(switch, NotificationSwitch.filter(), flags=FLAGS)
    return router
