"""Messages the bot sends a member on its own: "your friend joined", the birthday greeting.

Each goes through ``send_member_message`` with a key that names it once (``referral:12``,
``birthday:<member>:2026``): the outbox (``bot.telegram.outbox``) keeps it under that key,
paces it under Telegram's limits, retries it after a flood wait or a restart, and sends it
once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.utils.i18n import I18n

from bot.loyalty.errors import LoyaltyError
from bot.loyalty.models import CampaignKind, Money
from bot.services.birthdays import BirthdayGreeting, BirthdayTreats
from bot.services.enrollment import InviterNotice, ReferralOutcome, SignupBonus
from bot.services.referrals import InviteOutcome, Referrals
from bot.telegram import texts
from bot.telegram.i18n import _
from bot.telegram.outbox import Outbox

log = logging.getLogger(__name__)

BIRTHDAY_JOB_EVERY = 600.0
NOTICES_EVERY = 120.0


async def send_member_message(
    outbox: Outbox, bot: Bot, key: str, chat_id: int, text: str, **kwargs: Any
) -> None:
    """Send a member a message of the bot's own accord, once per ``key``."""
    log.debug("Sending member message %s", key)
    await outbox.send_text(bot, key, chat_id, text, **kwargs)


async def keep_running(run: Callable[[], Awaitable[object]], every: float, what: str) -> None:
    """``run`` every ``every`` seconds until cancelled; a failure is logged (``what`` names
    the job) and the next run tries again."""
    while True:
        try:
            await run()
        except Exception:
            log.exception("%s failed; trying again later", what)
        await asyncio.sleep(every)


def bonus_amount(bonus: SignupBonus) -> str:
    """A bonus in its campaign's own unit: "25 points", "$5.50"."""
    campaign = bonus.campaign
    if campaign.kind is CampaignKind.POINTS:
        return texts.points(bonus.amount)
    return texts.money(
        Money(amount=bonus.amount, currency=campaign.currency, glyph=campaign.glyph)
    )


def inviter_notice_text(notice: InviterNotice, program_name: str) -> str:
    name = texts.person_name(notice.friend_name) or _("A friend")
    lines = [
        _("🎉 {name} joined {program} through your invite!").format(
            name=name, program=texts.label(program_name)
        )
    ]
    if notice.bonus is not None and notice.bonus_pending:
        lines.append(
            _("🎁 Your bonus of +{amount} is on its way.").format(
                amount=bonus_amount(notice.bonus)
            )
        )
    elif notice.bonus is not None:
        lines.append(_("🎁 +{amount} for you.").format(amount=bonus_amount(notice.bonus)))
    return "\n".join(lines)


async def tell_inviter(
    outbox: Outbox, bot: Bot, i18n: I18n, notice: InviterNotice, *, program_name: str
) -> None:
    """Tell the inviter, in their language, that their friend joined. Never raises a
    Telegram error: the friend's join is done whatever happens to this message. Once the
    outbox holds it, the notice is marked sent; a notice claimed but never handed over (its
    process died) is handed over by ``resend_inviter_notices``, under the same key."""
    with i18n.context(), i18n.use_locale(notice.language or i18n.default_locale):
        text = inviter_notice_text(notice, program_name)
    try:
        await send_member_message(outbox, bot, notice.key, notice.telegram_user_id, text)
    except TelegramAPIError as exc:
        log.warning("Inviter %s not told of their friend: %s", notice.telegram_user_id, exc)
        return
    if notice.sent is not None:
        await notice.sent()


async def resend_inviter_notices(
    outbox: Outbox, bot: Bot, i18n: I18n, referrals: Referrals, *, program_name: str
) -> int:
    """Hand over the inviter notices a dead process claimed and never handed over; returns
    how many."""
    notices = await referrals.unsent_notices()
    for notice in notices:
        await tell_inviter(outbox, bot, i18n, notice, program_name=program_name)
    return len(notices)


async def keep_resending_inviter_notices(
    outbox: Outbox,
    bot: Bot,
    i18n: I18n,
    referrals: Referrals,
    *,
    program_name: str,
    every: float = NOTICES_EVERY,
) -> None:
    resend = partial(
        resend_inviter_notices, outbox, bot, i18n, referrals, program_name=program_name
    )
    await keep_running(resend, every, "Re-sending inviter notices")


def birthday_text(greeting: BirthdayGreeting, program_name: str) -> str:
    name = texts.person_name(greeting.first_name)
    lines = [
        _("🎂 Happy birthday, {name}!").format(name=name) if name else _("🎂 Happy birthday!"),
        _("Everyone at {program} wishes you a wonderful day.").format(
            program=texts.label(program_name)
        ),
    ]
    if greeting.bonus is not None and greeting.bonus_pending:
        lines.append(
            _("🎁 Your birthday treat of +{amount} is on its way.").format(
                amount=bonus_amount(greeting.bonus)
            )
        )
    elif greeting.bonus is not None:
        lines.append(
            _("🎁 Your birthday treat: +{amount}.").format(amount=bonus_amount(greeting.bonus))
        )
    return "\n".join(lines)


async def send_birthday_greetings(
    outbox: Outbox, bot: Bot, i18n: I18n, treats: BirthdayTreats, *, program_name: str
) -> int:
    """One run of the birthday job; returns how many treats were given."""

    async def greet(greeting: BirthdayGreeting) -> None:
        with i18n.context(), i18n.use_locale(greeting.language or i18n.default_locale):
            text = birthday_text(greeting, program_name)
        key = f"birthday:{greeting.member_code}:{greeting.year}"
        try:
            await send_member_message(outbox, bot, key, greeting.telegram_user_id, text)
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            # Blocked or gone: trying again today would not help.
            log.info("Birthday greeting of member %s not delivered: %s", greeting.member_code, exc)

    return await treats.run(greet)


async def keep_sending_birthday_greetings(
    outbox: Outbox,
    bot: Bot,
    i18n: I18n,
    treats: BirthdayTreats,
    *,
    program_name: str,
    every: float = BIRTHDAY_JOB_EVERY,
) -> None:
    greet = partial(send_birthday_greetings, outbox, bot, i18n, treats, program_name=program_name)
    await keep_running(greet, every, "The birthday job")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def referral_lines(referral: ReferralOutcome) -> list[str]:
    """What the invite a friend joined through gave them, for their join card's caption."""
    if referral.refusal == "self":
        return [_("That was your own invite link, so it gives no bonus.")]
    if referral.refusal == "member":
        return [_("You were already a member, so the invite gives no bonus.")]
    if referral.refusal == "cap":
        return [_("Your friend's invite link has given all its bonuses this month.")]
    bonus = referral.friend_bonus
    if bonus is None:
        return []
    if referral.friend_bonus_pending:
        return [
            _("🎁 Your invite bonus of +{amount} is on its way.").format(
                amount=bonus_amount(bonus)
            )
        ]
    return [_("🎁 Invite bonus: +{amount}.").format(amount=bonus_amount(bonus))]


def invite_refusal(outcome: InviteOutcome) -> str | None:
    """The answer to an invite link that gives nothing; ``None`` for the plain welcome."""
    if outcome is InviteOutcome.SELF:
        return _(
            "That's your own invite link. Share it with friends: you get a bonus when they join."
        )
    if outcome is InviteOutcome.MEMBER:
        return _("You're already a member, so this invite gives no bonus.")
    if outcome is InviteOutcome.CAP:
        return _(
            "This invite link has given all its bonuses this month. "
            "You can still join, without the invite bonus."
        )
    return None


async def invite_welcome_lines(referrals: Referrals) -> list[str]:
    """What a friend's invite adds to the welcome of someone who opened it."""
    try:
        friend, _inviter = await referrals.bonus_terms()
    except LoyaltyError as exc:
        log.info("Invite bonus not described: %s", exc.message)
        friend = None
    if friend is None:
        return [_("🤝 A friend invited you.")]
    return [
        _("🤝 A friend invited you: join now and get +{amount}.").format(
            amount=bonus_amount(friend)
        )
    ]
