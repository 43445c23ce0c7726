"""First contact and joining by phone: /start, the shared contact, and finishing a join."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, Update

from bot.config import Settings
from bot.services.contacts import InvalidPhone, normalize_contact_phone
from bot.services.enrollment import Enrollment, Joined, JoinRequest
from bot.services.referrals import InviteOutcome, Referrals
from bot.services.signup_links import SignupJoins, SignupLinks
from bot.services.verification import EmailVerification
from bot.storage.members import MemberLink
from bot.telegram import texts
from bot.telegram.callbacks import Retry, RetryAction
from bot.telegram.filters import PhoneLikeText
from bot.telegram.i18n import ButtonText, _, get_i18n
from bot.telegram.keyboards import JOIN_PHONE, join_keyboard, member_menu
from bot.telegram.member_messages import (
    bonus_amount,
    invite_refusal,
    invite_welcome_lines,
    referral_lines,
    tell_inviter,
)
from bot.telegram.outbox import Outbox
from bot.telegram.private_chats import PRIVATE_CHAT_PAYLOAD

log = logging.getLogger(__name__)


async def start(
    message: Message,
    bot: Bot,
    state: FSMContext,
    command: CommandObject,
    link: MemberLink | None,
    settings: Settings,
    verification: EmailVerification | None,
    signup_links: SignupLinks,
    signup_joins: SignupJoins,
    outbox: Outbox,
    event_update: Update,
    referrals: Referrals,
) -> None:
    await state.clear()
    user = message.from_user
    opening = None
    invite = None
    if command.args and command.args != PRIVATE_CHAT_PAYLOAD and user is not None:
        # Untrusted: only a token this bot signed resolves to a link; anything else is counted
        # and gets the plain welcome.
        member_code = link.member_code if link is not None else None
        invite = await referrals.open(user.id, command.args, member_code=member_code)
        if invite is None:
            opening = await signup_links.open(user.id, command.args, member_code=member_code)
    refusal = None if invite is None else invite_refusal(invite.outcome)
    if refusal is not None:
        await message.answer(refusal)
    if link is not None and user is not None:
        await signup_joins.settle_member(user.id, link.member_code)
    if link is None and user is not None and opening is not None and opening.personal:
        joined = await signup_joins.link_personal(user.id, opening)
        if joined is not None:
            await deliver_joined(
                bot, message.chat.id, joined, settings, outbox, asked_by=event_update
            )
            return
    if link is not None:
        name = link.first_name or (message.from_user.first_name if message.from_user else "")
        await message.answer(
            _("👋 Welcome back, {name}!").format(name=texts.person_name(name)),
            reply_markup=member_menu(),
        )
        return
    welcome = texts.welcome(settings.program_name)
    if invite is not None and invite.outcome is InviteOutcome.VALID:
        welcome = "\n".join([welcome, *await invite_welcome_lines(referrals)])
    await _answer_joining(message, welcome, verification)


async def _answer_joining(
    message: Message, text: str, verification: EmailVerification | None
) -> None:
    """Answer a visitor under the join keyboard (its email button only with email joins)."""
    await message.answer(text, reply_markup=join_keyboard(email=verification is not None))


async def refuse_contact(message: Message, verification: EmailVerification | None) -> None:
    """A phone counts only as the sender's own shared contact, never forwarded or typed."""
    text = _('That contact isn\'t yours. Please tap "{button}" to share your own number.')
    await _answer_joining(message, text.format(button=_(JOIN_PHONE)), verification)


async def contact_shared(
    message: Message,
    bot: Bot,
    state: FSMContext,
    settings: Settings,
    enrollment: Enrollment,
    outbox: Outbox,
    verification: EmailVerification | None,
    event_update: Update,
) -> None:
    contact = message.contact
    user = message.from_user
    assert contact is not None and user is not None
    if contact.user_id != user.id:
        await refuse_contact(message, verification)
        return
    try:
        phone = normalize_contact_phone(
            contact.phone_number, settings.default_region, verified=True
        )
    except InvalidPhone:
        log.info("Unreadable contact number from Telegram user %s", user.id)
        text = _("We couldn't read that phone number. Please try joining with email instead.")
        await _answer_joining(message, text, verification)
        return
    await state.clear()
    request = JoinRequest(
        phone=phone,
        first_name=contact.first_name or user.first_name,
        last_name=contact.last_name or user.last_name or "",
        language=get_i18n().current_locale,
    )
    joined = await enrollment.join(user.id, request)
    await deliver_joined(bot, message.chat.id, joined, settings, outbox, asked_by=event_update)


async def join_phone_as_text(message: Message, verification: EmailVerification | None) -> None:
    # Clients that cannot share a contact send the button's text instead.
    text = _('Please tap "{button}" below to share your number with one tap.')
    await _answer_joining(message, text.format(button=_(JOIN_PHONE)), verification)


async def retry_join(
    callback: CallbackQuery,
    bot: Bot,
    link: MemberLink | None,
    settings: Settings,
    enrollment: Enrollment,
    outbox: Outbox,
    verification: EmailVerification | None,
) -> None:
    user = callback.from_user
    chat_id = callback.message.chat.id if callback.message else user.id
    joined = await enrollment.resume(user.id)
    if joined is not None:
        await deliver_joined(bot, chat_id, joined, settings, outbox)
    elif link is not None:
        await bot.send_message(
            chat_id, _("You're already in. Here's your menu."), reply_markup=member_menu()
        )
    else:
        await bot.send_message(
            chat_id,
            texts.welcome(settings.program_name),
            reply_markup=join_keyboard(email=verification is not None),
        )


async def deliver_joined(
    bot: Bot,
    chat_id: int,
    joined: Joined,
    settings: Settings,
    outbox: Outbox,
    *,
    asked_by: Update | None = None,
) -> None:
    """The card itself, at once, with the member menu: through the outbox, once per join
    however often the join is finished (a retry, a restart handling the update again)."""
    name = joined.link.first_name
    number = texts.card_number(joined.link.card_number)
    if joined.created:
        caption = _("✅ You're in, {name}! Your card number is {number}.")
    else:
        caption = _("✅ You're in, {name}! We found your card: {number}.")
    caption = caption.format(name=texts.person_name(name), number=number)
    if joined.signup_bonus is not None:
        caption += "\n" + _("🎁 Welcome bonus: +{amount}.").format(
            amount=bonus_amount(joined.signup_bonus)
        )
    if joined.referral is not None:
        caption = "\n".join([caption, *referral_lines(joined.referral)])
    await outbox.send_card(
        bot,
        join_card_key(joined, asked_by),
        chat_id,
        program_name=settings.program_name,
        card_number=joined.link.card_number,
        first_name=joined.link.first_name,
        caption=caption,
        reply_markup=member_menu(),
    )
    if joined.referral is not None and joined.referral.inviter_notice is not None:
        notice = joined.referral.inviter_notice
        await tell_inviter(outbox, bot, get_i18n(), notice, program_name=settings.program_name)


def join_card_key(joined: Joined, asked_by: Update | None = None) -> str:
    """One card per link: every way of finishing one join sends under the same key. A member
    who was linked before asking (``asked_by``'s message is newer than the link) gets an
    answer of their own."""
    link = joined.link
    key = f"join-card:{link.telegram_user_id}:{link.member_code}:{link.linked_at.isoformat()}"
    asked = asked_by.message if asked_by is not None else None
    if asked_by is not None and asked is not None and link.linked_at < asked.date:
        key += f":update:{asked_by.update_id}"
    return key


def create_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(refuse_contact, F.contact, F.forward_origin)
    router.message.register(contact_shared, F.contact, flags={"retry": RetryAction.JOIN})
    router.message.register(refuse_contact, StateFilter(None), PhoneLikeText())
    router.message.register(join_phone_as_text, ButtonText(JOIN_PHONE))
    router.callback_query.register(
        retry_join, Retry.filter(F.action == RetryAction.JOIN), flags={"retry": RetryAction.JOIN}
    )
    return router
