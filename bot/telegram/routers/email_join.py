"""Joining by email: the address, a one-time code, then the same join as by phone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, Update

from bot.config import Settings
from bot.services.contacts import InvalidEmail, mask_email, normalize_email
from bot.services.enrollment import Enrollment, JoinRequest
from bot.services.verification import (
    CheckResult,
    CheckStatus,
    CodeMail,
    DeliveryFailed,
    EmailVerification,
    MailComposer,
    ResendStatus,
    TooManyCodes,
)
from bot.telegram.callbacks import ResendCode, RetryAction
from bot.telegram.filters import TypedText
from bot.telegram.i18n import _, get_i18n, ngettext
from bot.telegram.keyboards import (
    JOIN_EMAIL,
    JOIN_PHONE,
    cancel_inline,
    join_keyboard,
    resend_code,
)
from bot.telegram.outbox import Outbox
from bot.telegram.routers.entry import entry_router
from bot.telegram.routers.start import deliver_joined
from bot.telegram.states import EmailJoin, ProfileEditing


def code_mail(program_name: str) -> MailComposer:
    """The code email, worded in the member's language at the time it is sent."""

    def compose(email: str, code: str) -> CodeMail:
        return CodeMail(
            to=email,
            code=code,
            subject=_("Your {program} code: {code}").format(program=program_name, code=code),
            body=_(
                "Your code is {code}. Type it in the chat with the bot.\n"
                "It is valid for 10 minutes. If you didn't ask for it, ignore this email."
            ).format(code=code),
        )

    return compose


def code_sent_text(email: str, verification: EmailVerification, *, again: bool = False) -> str:
    if again:
        text = _("We sent a new code to {email}. Type it here.")
    else:
        text = _("We sent a 6-digit code to {email}. Type it here.")
    text = text.format(email=escape(mask_email(email)))
    if verification.sender.demo:
        text += "\n\n" + _("Demo mode: no email is sent; the code is in the bot's log.")
    return text


async def send_code(
    message: Message,
    email: str,
    verification: EmailVerification,
    settings: Settings,
) -> bool:
    """Send a code to ``email``; tells the member and answers False when it could not go out."""
    assert message.from_user is not None
    try:
        await verification.start(message.from_user.id, email, code_mail(settings.program_name))
    except DeliveryFailed:
        await message.answer(could_not_send())
        return False
    except TooManyCodes:
        await message.answer(too_many_codes())
        return False
    await message.answer(code_sent_text(email, verification), reply_markup=cancel_inline())
    return True


def could_not_send() -> str:
    return _("We couldn't send an email just now. Please check the address or try again later.")


def too_many_codes() -> str:
    return _("You've asked for several codes already. Please wait 10 minutes and try again.")


def read_email(text: str) -> str | None:
    try:
        return normalize_email(text)
    except InvalidEmail:
        return None


def not_an_email() -> str:
    return _("That doesn't look like an email address. Please check it and type it again.")


def code_problem(result: CheckResult) -> tuple[str, InlineKeyboardMarkup | None, bool]:
    """What to say about a code that did not verify: text, buttons, and whether to go back
    to asking for the email."""
    match result.status:
        case CheckStatus.WRONG:
            text = ngettext(
                "That code doesn't match. {count} try left.",
                "That code doesn't match. {count} tries left.",
                result.tries_left,
            ).format(count=result.tries_left)
            return text, None, False
        case CheckStatus.EXPIRED if result.can_resend:
            return _("That code has expired."), resend_code(), False
        case CheckStatus.TOO_MANY_TRIES if result.can_resend:
            return _("That's too many wrong tries for this code."), resend_code(), False
        case CheckStatus.EXPIRED | CheckStatus.TOO_MANY_TRIES:
            return _("That code can't be used any more. Please type your email again."), None, True
    return _("Let's start again: please type your email address."), None, True


async def ask_email(
    message: Message, state: FSMContext, verification: EmailVerification | None
) -> None:
    if verification is None:
        await message.answer(
            _('Joining with email isn\'t available here. Please tap "{button}".').format(
                button=_(JOIN_PHONE)
            ),
            reply_markup=join_keyboard(email=False),
        )
        return
    await state.set_state(EmailJoin.email)
    await message.answer(_("✉️ Type your email address."), reply_markup=cancel_inline())


def email_step(code_state: State) -> Callable[..., Awaitable[None]]:
    """The handler of a typed address (joining, or a new address in the profile): send it a
    code and wait for the code in ``code_state``; a typo is said."""

    async def email_typed(
        message: Message,
        state: FSMContext,
        settings: Settings,
        verification: EmailVerification,
    ) -> None:
        email = read_email(message.text or "")
        if email is None:
            await message.answer(not_an_email(), reply_markup=cancel_inline())
            return
        if await send_code(message, email, verification, settings):
            await state.set_state(code_state)

    return email_typed


async def verified_email(
    message: Message,
    state: FSMContext,
    verification: EmailVerification,
    *,
    email_state: State,
) -> str | None:
    """The address the typed code proves; else ``None``, once the member is told what is wrong
    (and sent back to ``email_state`` when the code cannot be used any more)."""
    assert message.from_user is not None
    result = await verification.check(message.from_user.id, message.text or "")
    if result.status is CheckStatus.VERIFIED:
        return result.email
    text, markup, restart = code_problem(result)
    if restart:
        await state.set_state(email_state)
    await message.answer(text, reply_markup=markup)
    return None


async def join_code_typed(
    message: Message,
    bot: Bot,
    state: FSMContext,
    settings: Settings,
    verification: EmailVerification,
    enrollment: Enrollment,
    outbox: Outbox,
    event_update: Update,
) -> None:
    user = message.from_user
    assert user is not None
    email = await verified_email(message, state, verification, email_state=EmailJoin.email)
    if email is None:
        return
    # The proof is used up; from here the pending join keeps what a retry needs.
    await state.clear()
    request = JoinRequest(
        email=email,
        first_name=user.first_name,
        last_name=user.last_name or "",
        language=get_i18n().current_locale,
    )
    joined = await enrollment.join(user.id, request)
    await deliver_joined(bot, message.chat.id, joined, settings, outbox, asked_by=event_update)


async def resend(
    callback: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    settings: Settings,
    verification: EmailVerification,
) -> None:
    user = callback.from_user
    chat_id = callback.message.chat.id if callback.message else user.id
    try:
        result = await verification.resend(user.id, code_mail(settings.program_name))
    except DeliveryFailed:
        await bot.send_message(chat_id, could_not_send())
        return
    if result.status is ResendStatus.SENT:
        await bot.send_message(
            chat_id,
            code_sent_text(result.email, verification, again=True),
            reply_markup=cancel_inline(),
        )
        return
    if result.status is ResendStatus.LIMIT_REACHED:
        text = too_many_codes()
    else:
        text = _("Let's start again: please type your email address.")
    current = await state.get_state()
    await state.set_state(
        EmailJoin.email if current == EmailJoin.code.state else ProfileEditing.email
    )
    await bot.send_message(chat_id, text, reply_markup=cancel_inline())


def create_router() -> Router:
    router = entry_router("email_join", ask_email, "email", JOIN_EMAIL)
    router.message.register(email_step(EmailJoin.code), EmailJoin.email, TypedText())
    router.message.register(
        join_code_typed, EmailJoin.code, TypedText(), flags={"retry": RetryAction.JOIN}
    )
    router.callback_query.register(resend, ResendCode.filter(), EmailJoin.code)
    router.callback_query.register(resend, ResendCode.filter(), ProfileEditing.email_code)
    return router
