"""Wording of the chat screens in the member's language, from the services' view models.

Everything a member or the platform typed is HTML-escaped here: messages use HTML parse mode.
It is also shortened (names to ``NAME_LIMIT`` characters, other platform labels to
``LABEL_LIMIT``), and whole texts are fitted to Telegram's limits line by line, so a long stored
name never makes a send fail; card numbers are never shortened.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import escape

import phonenumbers
from aiogram.utils.i18n import get_i18n
from babel.core import Locale
from babel.dates import format_date

from bot.loyalty.models import CampaignKind, Member, Money, Reward
from bot.services.balances import BalanceLine, Progress
from bot.services.cards import group_card_number
from bot.services.history import HistoryEntry, HistoryPage
from bot.telegram.i18n import _
from bot.wording import units

NAME_LIMIT = 64
LABEL_LIMIT = 200
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
_MORE = "…"


def _telegram_length(text: str) -> int:
    # Telegram counts UTF-16 code units; the HTML markup is counted too, which only errs short.
    return len(text.encode("utf-16-le")) // 2


def shortened(text: str, limit: int = NAME_LIMIT) -> str:
    """``text`` (unescaped) cut to ``limit`` characters, ending in "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + _MORE


def person_name(text: str) -> str:
    """A person's name from the platform or Telegram, shortened and escaped."""
    return escape(shortened(text, NAME_LIMIT))


def label(text: str) -> str:
    """A campaign, reward, item or description from the platform, shortened and escaped."""
    return escape(shortened(text, LABEL_LIMIT))


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Keep whole lines from the top while they fit (our markup never spans lines), marking
    the cut with "…"; the first line (where the card number is) always stays."""
    if _telegram_length(text) <= limit:
        return text
    lines = text.split("\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if _telegram_length("\n".join([*kept, line, _MORE])) > limit:
            break
        kept.append(line)
    return "\n".join([*kept, _MORE])


def locale() -> Locale:
    """The current language as Babel's ``Locale``: parsed once per language, not per number."""
    return units.parsed_locale(get_i18n().current_locale)


# Numbers, money, points and visits: the one formatting shared with the kiosk (bot.wording).
def number(value: Decimal | int) -> str:
    return units.number(value, get_i18n().current_locale)


def money(value: Money) -> str:
    return units.money(value, get_i18n().current_locale)


def points(value: Decimal) -> str:
    i18n = get_i18n()
    return units.points(value, i18n.current_locale, i18n)


def visits(value: Decimal | int) -> str:
    i18n = get_i18n()
    return units.visits(value, i18n.current_locale, i18n)


def _reward_cost(reward: Reward, kind: CampaignKind) -> str:
    return visits(reward.cost) if kind is CampaignKind.EVENTS else points(reward.cost)


def _progress(progress: Progress, kind: CampaignKind) -> str:
    return _("{bar} {current} / {target} to 🎁 {reward}").format(
        bar=progress.bar,
        current=number(progress.current),
        target=number(progress.target),
        reward=label(progress.reward),
    )


def balance_line(line: BalanceLine) -> str:
    name = f"<b>{label(line.campaign_name)}</b>"
    match line.kind:
        case CampaignKind.POINTS:
            head = f"{name} — {points(line.amount)}"
            if line.money is not None:
                head += f" (≈ {money(line.money)})"
        case CampaignKind.EVENTS:
            head = f"{name} — {visits(line.amount)}"
        case CampaignKind.GIFTCARD | CampaignKind.EARNED:
            head = f"{name} — {money(line.money) if line.money else number(line.amount)}"
        case CampaignKind.BUYX:
            counts = " · ".join(
                f"{label(item.item)} {item.current} / {item.buy_amount}"
                if item.buy_amount
                else f"{label(item.item)} {item.current}"
                for item in line.items
            )
            head = f"{name} — " + (counts or _("nothing yet"))
    lines = [head]
    if line.progress is not None:
        lines.append(_progress(line.progress, line.kind))
    if line.available:
        rewards = ", ".join(
            f"{label(reward.description)} ({_reward_cost(reward, line.kind)})"
            for reward in line.available
        )
        lines.append(_("Available now: {rewards}").format(rewards=rewards))
    return "\n".join(lines)


def balances(lines: list[BalanceLine]) -> str:
    if not lines:
        return _("⭐ Your balances") + "\n\n" + _("You don't have any balances yet.")
    return fit(_("⭐ Your balances") + "\n\n" + "\n\n".join(balance_line(line) for line in lines))


def day(moment: dt.date) -> str:
    return format_date(moment, format="medium", locale=locale())


def _history_amount(entry: HistoryEntry) -> str:
    sign = "−" if entry.is_redemption else "+"
    amount = abs(entry.amount)
    match entry.kind:
        case CampaignKind.POINTS:
            return sign + points(amount)
        case CampaignKind.EVENTS:
            return sign + visits(amount)
        case CampaignKind.GIFTCARD | CampaignKind.EARNED:
            return sign + money(Money(amount=amount, glyph=entry.currency_glyph))
        case CampaignKind.BUYX:
            item = f"{label(entry.item)} " if entry.item else ""
            return f"{item}{sign}{number(amount)}"
    return sign + number(amount)


def history(page: HistoryPage) -> str:
    title = _("🧾 Your history")
    if page.page:
        title += " · " + _("page {page}").format(page=page.page + 1)
    if not page.entries:
        empty = _("No transactions yet.") if page.page == 0 else _("No older transactions.")
        return f"{title}\n\n{empty}"
    rows = []
    for entry in page.entries:
        parts = [day(entry.at)]
        if entry.amount:
            parts.append(_history_amount(entry))
        if entry.campaign_name:
            parts.append(label(entry.campaign_name))
        if entry.description:
            parts.append(f"<i>{label(entry.description)}</i>")
        rows.append(" · ".join(parts))
    return fit(f"{title}\n\n" + "\n".join(rows))


def card_number(number_text: str) -> str:
    return f"<code>{escape(group_card_number(number_text))}</code>"


def readable_phone(phone: str) -> str:
    """``+12025550143`` → ``+1 202-555-0143``; anything unreadable as it is."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def profile(member: Member) -> str:
    not_set = _("not set")
    full_name = " ".join(
        shortened(part, NAME_LIMIT) for part in (member.first_name, member.last_name) if part
    )
    rows = [
        _("👤 Your profile"),
        "",
        _("Name: {name}").format(name=escape(full_name) if full_name else not_set),
        _("Phone: {phone}").format(phone=escape(readable_phone(member.phone)) or not_set),
        _("Email: {email}").format(email=label(member.email) if member.email else not_set),
        _("Birthday: {birthday}").format(
            birthday=day(member.birthday) if member.birthday else not_set
        ),
        _("Card: {number}").format(number=card_number(member.card_number)),
    ]
    return fit("\n".join(rows))


def welcome(program_name: str) -> str:
    return "\n".join(
        [
            _("👋 Welcome to {program}!").format(program=escape(program_name)),
            _("Join in a few seconds to collect points and get your card."),
        ]
    )


def help_text() -> str:
    return "\n".join(
        [
            _("Here's what I can do:"),
            _("💳 My card — your card to show at the till (/card)"),
            _("⭐ Balance — your points and rewards (/balance)"),
            _("🧾 History — your recent activity (/history)"),
            _("👤 Profile — your name, email and birthday (/profile)"),
            _("🤝 Invite a friend — your own invite link (/invite)"),
            _("🔔 Notifications — balance messages and news on or off (/notifications)"),
            _("🌐 Language — choose a language (/language)"),
            _("🗑 Forget me — unlink this chat and erase your data here (/forget)"),
        ]
    )


def join_help(program_name: str, *, email: bool) -> str:
    lines = [_("You're not a member of {program} yet.").format(program=escape(program_name))]
    if email:
        lines.append(_("Join with your phone or email — it takes a few seconds."))
    else:
        lines.append(_("Join with your phone — it takes a few seconds."))
    return "\n".join(lines)
