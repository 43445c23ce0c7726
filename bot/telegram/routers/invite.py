"""Invite a friend: the member's own invite link, as a QR picture with a share button."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.config import Settings
from bot.links.poster import poster_for, render_png
from bot.services.referrals import Referrals
from bot.storage.cards import CardImages
from bot.storage.members import MemberLink
from bot.storage.referrals import INVITE_IMAGE_PREFIX
from bot.telegram import texts
from bot.telegram.callbacks import RetryAction
from bot.telegram.i18n import _
from bot.telegram.keyboards import INVITE
from bot.telegram.member_messages import bonus_amount
from bot.telegram.routers.entry import entry_router

log = logging.getLogger(__name__)

FLAGS = {"member": True, "retry": RetryAction.INVITE}


def share_url(url: str, text: str) -> str:
    """Telegram's share screen: the member picks chats, the link goes with ``text``."""
    return "https://t.me/share/url?" + urlencode({"url": url, "text": text})


async def invite_caption(referrals: Referrals, settings: Settings, url: str) -> str:
    friend, inviter = await referrals.bonus_terms()
    program = texts.label(settings.program_name)
    lines = [_("🤝 Invite friends to {program} with your own link.").format(program=program)]
    if friend is not None and inviter is not None:
        lines.append(
            _("When a friend joins through it, you get +{mine} and they get +{theirs}.").format(
                mine=bonus_amount(inviter), theirs=bonus_amount(friend)
            )
        )
    elif inviter is not None:
        lines.append(
            _("When a friend joins through it, you get +{mine}.").format(
                mine=bonus_amount(inviter)
            )
        )
    elif friend is not None:
        lines.append(
            _("When a friend joins through it, they get +{theirs}.").format(
                theirs=bonus_amount(friend)
            )
        )
    if referrals.monthly_cap is not None and (friend is not None or inviter is not None):
        lines.append(
            _("Bonuses for up to {count} friends a month.").format(
                count=texts.number(referrals.monthly_cap)
            )
        )
    lines += ["", _("Your link: {url}").format(url=url)]
    return "\n".join(lines)


async def send_invite(
    bot: Bot,
    chat_id: int,
    link: MemberLink,
    settings: Settings,
    referrals: Referrals,
    card_images: CardImages,
) -> None:
    url = await referrals.invite_url(link.member_code)
    caption = await invite_caption(referrals, settings, url)
    share_text = _("Join {program} with my invite!").format(program=settings.program_name)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("📤 Share"), url=share_url(url, share_text))]
        ]
    )
    # Cached like a card: rendered once, uploaded once, then re-sent by file_id.
    image_key = INVITE_IMAGE_PREFIX + url.rsplit("=", 1)[-1]
    file_id = await card_images.get_file_id(bot.id, image_key)
    if file_id is not None:
        try:
            await bot.send_photo(chat_id, file_id, caption=caption, reply_markup=keyboard)
            return
        except TelegramBadRequest as exc:
            log.info("Cached invite file_id refused (%s); uploading it again", exc.message)
            await card_images.forget_file_id(bot.id, image_key)
    png = await card_images.get_png(bot.id, image_key)
    if png is None:
        poster = poster_for(url, settings.program_name)
        png = await asyncio.to_thread(render_png, poster)
        await card_images.put_png(bot.id, image_key, png)
    message = await bot.send_photo(
        chat_id,
        BufferedInputFile(png, filename="invite.png"),
        caption=caption,
        reply_markup=keyboard,
    )
    if message.photo:
        await card_images.remember_file_id(bot.id, image_key, message.photo[-1].file_id)


async def show_invite(
    message: Message,
    bot: Bot,
    state: FSMContext,
    link: MemberLink,
    settings: Settings,
    referrals: Referrals,
    card_images: CardImages,
) -> None:
    await state.clear()
    await send_invite(bot, message.chat.id, link, settings, referrals, card_images)


async def retry_invite(
    callback: CallbackQuery,
    bot: Bot,
    link: MemberLink,
    settings: Settings,
    referrals: Referrals,
    card_images: CardImages,
) -> None:
    await send_invite(bot, link.telegram_user_id, link, settings, referrals, card_images)


def create_router() -> Router:
    return entry_router("invite", show_invite, "invite", INVITE, flags=FLAGS, retry=retry_invite)
