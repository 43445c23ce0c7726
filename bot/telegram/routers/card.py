"""My card: the QR card picture to show at the till."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.services.profiles import Profiles
from bot.storage.cards import CardImages
from bot.storage.members import MemberLink, MemberLinks
from bot.telegram.callbacks import RetryAction
from bot.telegram.card_delivery import send_card
from bot.telegram.i18n import _
from bot.telegram.keyboards import MY_CARD, member_menu
from bot.telegram.routers.entry import entry_router

FLAGS = {"member": True, "retry": RetryAction.CARD}


async def deliver_card(
    bot: Bot,
    chat_id: int,
    link: MemberLink,
    settings: Settings,
    card_images: CardImages,
    links: MemberLinks,
    profiles: Profiles,
) -> None:
    if not link.card_number:
        # Linked before the platform gave a card number: ask it once and remember.
        member = await profiles.get(link.member_code)
        link = (
            await links.update(
                link.telegram_user_id,
                card_number=member.card_number,
                first_name=link.first_name or member.first_name,
            )
            or link
        )
    await send_card(
        bot,
        chat_id,
        card_images,
        program_name=settings.program_name,
        card_number=link.card_number,
        first_name=link.first_name,
        caption=_("Show this at the till."),
        reply_markup=member_menu(),
    )


async def show_card(
    message: Message,
    bot: Bot,
    state: FSMContext,
    link: MemberLink,
    settings: Settings,
    card_images: CardImages,
    links: MemberLinks,
    profiles: Profiles,
) -> None:
    await state.clear()
    await deliver_card(bot, message.chat.id, link, settings, card_images, links, profiles)


async def retry_card(
    callback: CallbackQuery,
    bot: Bot,
    link: MemberLink,
    settings: Settings,
    card_images: CardImages,
    links: MemberLinks,
    profiles: Profiles,
) -> None:
    await deliver_card(bot, link.telegram_user_id, link, settings, card_images, links, profiles)


def create_router() -> Router:
    return entry_router("card", show_card, "card", MY_CARD, flags=FLAGS, retry=retry_card)
