"""Profile: view it, change first and last name, email (with a new code) and birthday."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.loyalty.models import ProfileChanges
from bot.services.contacts import (
    FutureDate,
    ImplausibleDate,
    InvalidDate,
    parse_birthday,
)
from bot.services.profiles import InvalidName, Profiles, clean_name
from bot.services.verification import EmailVerification
from bot.storage.cards import CardImages
from bot.storage.members import MemberLink
from bot.storage.timestamps import Clock
from bot.telegram import texts
from bot.telegram.callbacks import ProfileEdit, ProfileField, Retry, RetryAction
from bot.telegram.filters import TypedText
from bot.telegram.i18n import _
from bot.telegram.keyboards import PROFILE, cancel_inline, profile_actions
from bot.telegram.routers.email_join import email_step, verified_email
from bot.telegram.routers.entry import entry_router
from bot.telegram.states import ProfileEditing

VIEW = {"member": True, "retry": RetryAction.PROFILE}
SAVE = {"member": True, "retry": RetryAction.PROFILE_SAVE}
PENDING_CHANGE = "pending_change"


async def show_profile(
    message: Message, state: FSMContext, profiles: Profiles, link: MemberLink
) -> None:
    await state.clear()
    member = await profiles.get(link.member_code)
    await message.answer(texts.profile(member), reply_markup=profile_actions())


async def retry_profile(
    callback: CallbackQuery, bot: Bot, profiles: Profiles, link: MemberLink
) -> None:
    member = await profiles.get(link.member_code)
    await bot.send_message(
        link.telegram_user_id, texts.profile(member), reply_markup=profile_actions()
    )


async def edit_field(
    callback: CallbackQuery,
    callback_data: ProfileEdit,
    bot: Bot,
    state: FSMContext,
    verification: EmailVerification | None,
) -> None:
    chat_id = callback.from_user.id
    match callback_data.field:
        case ProfileField.FIRST_NAME:
            await state.set_state(ProfileEditing.first_name)
            prompt = _("Type your first name.")
        case ProfileField.LAST_NAME:
            await state.set_state(ProfileEditing.last_name)
            prompt = _("Type your last name.")
        case ProfileField.BIRTHDAY:
            await state.set_state(ProfileEditing.birthday)
            prompt = _("Type your birthday, for example 1970-07-14 or 14.07.1970.")
        case ProfileField.EMAIL:
            if verification is None:
                await bot.send_message(chat_id, _("Changing the email isn't available here."))
                return
            await state.set_state(ProfileEditing.email)
            prompt = _("Type your new email address. We'll send it a code to confirm it.")
    await bot.send_message(chat_id, prompt, reply_markup=cancel_inline())


async def save(
    bot: Bot,
    chat_id: int,
    changes: ProfileChanges,
    state: FSMContext,
    profiles: Profiles,
    link: MemberLink,
    card_images: CardImages,
) -> None:
    """Apply a change; it stays in the FSM data until the platform has taken it."""
    await state.update_data({PENDING_CHANGE: changes.model_dump(mode="json", exclude_none=True)})
    member = await profiles.change(link.telegram_user_id, link.member_code, changes)
    await state.clear()
    if changes.first_name is not None and link.card_number:
        # The card shows the first name: draw it again next time.
        await card_images.forget_card(link.card_number)
    await bot.send_message(
        chat_id, _("✅ Saved.") + "\n\n" + texts.profile(member), reply_markup=profile_actions()
    )


async def retry_save(
    callback: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    profiles: Profiles,
    link: MemberLink,
    card_images: CardImages,
) -> None:
    pending: dict[str, Any] | None = (await state.get_data()).get(PENDING_CHANGE)
    if not pending:
        member = await profiles.get(link.member_code)
        await bot.send_message(
            link.telegram_user_id, texts.profile(member), reply_markup=profile_actions()
        )
        return
    changes = ProfileChanges.model_validate(pending)
    await save(bot, link.telegram_user_id, changes, state, profiles, link, card_images)


async def name_typed(
    message: Message,
    bot: Bot,
    state: FSMContext,
    profiles: Profiles,
    link: MemberLink,
    card_images: CardImages,
) -> None:
    try:
        name = clean_name(message.text or "")
    except InvalidName:
        await message.answer(
            _("That doesn't look like a name. Please type it again."),
            reply_markup=cancel_inline(),
        )
        return
    if await state.get_state() == ProfileEditing.first_name.state:
        changes = ProfileChanges(first_name=name)
    else:
        changes = ProfileChanges(last_name=name)
    await save(bot, message.chat.id, changes, state, profiles, link, card_images)


async def birthday_typed(
    message: Message,
    bot: Bot,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
    profiles: Profiles,
    link: MemberLink,
    card_images: CardImages,
) -> None:
    text = message.text or ""
    try:
        birthday = parse_birthday(text, today=clock().date(), region=settings.default_region)
    except FutureDate:
        problem = _("That date is in the future. Please check the year.")
    except ImplausibleDate:
        problem = _("That date is too long ago. Please check the year.")
    except InvalidDate:
        problem = _("I couldn't read that date. Please write it like 1970-07-14 or 14.07.1970.")
    else:
        changes = ProfileChanges(birthday=birthday)
        await save(bot, message.chat.id, changes, state, profiles, link, card_images)
        return
    await message.answer(problem, reply_markup=cancel_inline())


async def email_code_typed(
    message: Message,
    bot: Bot,
    state: FSMContext,
    verification: EmailVerification,
    profiles: Profiles,
    link: MemberLink,
    card_images: CardImages,
) -> None:
    email = await verified_email(message, state, verification, email_state=ProfileEditing.email)
    if email is None:
        return
    await message.answer(_("✅ {email} is confirmed.").format(email=escape(email)))
    changes = ProfileChanges(email=email)
    await save(bot, message.chat.id, changes, state, profiles, link, card_images)


def create_router() -> Router:
    router = entry_router(
        "profile", show_profile, "profile", PROFILE, flags=VIEW, retry=retry_profile
    )
    router.callback_query.register(edit_field, ProfileEdit.filter(), flags={"member": True})
    router.callback_query.register(
        retry_save, Retry.filter(F.action == RetryAction.PROFILE_SAVE), flags=SAVE
    )
    router.message.register(name_typed, ProfileEditing.first_name, TypedText(), flags=SAVE)
    router.message.register(name_typed, ProfileEditing.last_name, TypedText(), flags=SAVE)
    router.message.register(birthday_typed, ProfileEditing.birthday, TypedText(), flags=SAVE)
    router.message.register(
        email_step(ProfileEditing.email_code),
        ProfileEditing.email,
        TypedText(),
        flags={"member": True},
    )
    router.message.register(email_code_typed, ProfileEditing.email_code, TypedText(), flags=SAVE)
    return router
