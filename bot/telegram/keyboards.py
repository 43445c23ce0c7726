"""Buttons and keyboards. Button texts are msgids here and are translated where shown;
incoming texts are matched with ``ButtonText`` in every language."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from functools import wraps
from typing import ParamSpec, TypeVar

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.telegram.callbacks import (
    BalanceRefresh,
    CancelFlow,
    ForgetAnswer,
    ForgetAsk,
    HistoryPage,
    LanguageChoice,
    NotificationSwitch,
    ProfileEdit,
    ProfileField,
    ResendCode,
    Retry,
    RetryAction,
    ShowHistory,
)
from bot.telegram.i18n import N_, _, get_i18n, language_name

JOIN_PHONE = N_("📱 Join with my phone")
JOIN_EMAIL = N_("✉️ Join with email")
MY_CARD = N_("💳 My card")
BALANCE = N_("⭐ Balance")
HISTORY = N_("🧾 History")
PROFILE = N_("👤 Profile")
INVITE = N_("🤝 Invite a friend")
LANGUAGE = N_("🌐 Language")
NOTIFICATIONS = N_("🔔 Notifications")
HELP = N_("❓ Help")
CANCEL = N_("✖️ Cancel")

Params = ParamSpec("Params")
Markup = TypeVar("Markup")


def per_language(build: Callable[Params, Markup]) -> Callable[Params, Markup]:
    """A keyboard built once per language and arguments, then shared: aiogram's markups are
    frozen, and building one (translations, callback data, a model per button) cost about as
    much as the rest of sending the message. The arguments must be a few hashable values."""
    built: dict[Hashable, Markup] = {}

    @wraps(build)
    def keyboard(*args: Params.args, **kwargs: Params.kwargs) -> Markup:
        i18n = get_i18n()
        key = (i18n, i18n.current_locale, args, tuple(sorted(kwargs.items())))
        markup = built.get(key)
        if markup is None:
            markup = built[key] = build(*args, **kwargs)
        return markup

    return keyboard


MENU_BUTTONS = (MY_CARD, BALANCE, HISTORY, PROFILE, INVITE, NOTIFICATIONS, LANGUAGE, HELP)
"""Every reply-keyboard button: texts that are never taken as typed input."""
ALL_BUTTONS = (*MENU_BUTTONS, JOIN_PHONE, JOIN_EMAIL)


@per_language
def member_menu() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_(MY_CARD)), KeyboardButton(text=_(BALANCE))],
            [KeyboardButton(text=_(HISTORY)), KeyboardButton(text=_(PROFILE))],
            [KeyboardButton(text=_(INVITE)), KeyboardButton(text=_(NOTIFICATIONS))],
            [KeyboardButton(text=_(LANGUAGE)), KeyboardButton(text=_(HELP))],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


@per_language
def join_keyboard(*, email: bool) -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(text=_(JOIN_PHONE), request_contact=True)]]
    if email:
        rows.append([KeyboardButton(text=_(JOIN_EMAIL))])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def _inline(*rows: Iterable[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows if row])


@per_language
def try_again(action: RetryAction) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=_("🔄 Try again"), callback_data=Retry(action=action).pack()
    )
    return _inline([button])


@per_language
def balance_actions() -> InlineKeyboardMarkup:
    return _inline(
        [
            InlineKeyboardButton(text=_("🔄 Refresh"), callback_data=BalanceRefresh().pack()),
            InlineKeyboardButton(text=_(HISTORY), callback_data=ShowHistory().pack()),
        ]
    )


def history_pager(page: int, *, has_previous: bool, has_next: bool) -> InlineKeyboardMarkup | None:
    # ◀ goes to newer transactions, ▶ to older ones.
    row = []
    if has_previous:
        row.append(InlineKeyboardButton(text="◀", callback_data=HistoryPage(page=page - 1).pack()))
    if has_next:
        row.append(InlineKeyboardButton(text="▶", callback_data=HistoryPage(page=page + 1).pack()))
    return _inline(row) if row else None


@per_language
def profile_actions() -> InlineKeyboardMarkup:
    def edit(text: str, field: ProfileField) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=ProfileEdit(field=field).pack())

    return _inline(
        [
            edit(_("✏️ First name"), ProfileField.FIRST_NAME),
            edit(_("✏️ Last name"), ProfileField.LAST_NAME),
        ],
        [edit(_("✉️ Email"), ProfileField.EMAIL), edit(_("🎂 Birthday"), ProfileField.BIRTHDAY)],
        [InlineKeyboardButton(text=_("🗑 Forget me"), callback_data=ForgetAsk().pack())],
    )


def language_choice(languages: Iterable[str], current: str) -> InlineKeyboardMarkup:
    return _inline(
        *(
            [
                InlineKeyboardButton(
                    text=("✅ " if code == current else "") + language_name(code),
                    callback_data=LanguageChoice(code=code).pack(),
                )
            ]
            for code in languages
        )
    )


@per_language
def forget_confirmation() -> InlineKeyboardMarkup:
    return _inline(
        [
            InlineKeyboardButton(
                text=_("Yes, forget me"), callback_data=ForgetAnswer(confirmed=True).pack()
            ),
            InlineKeyboardButton(
                text=_("No, keep it"), callback_data=ForgetAnswer(confirmed=False).pack()
            ),
        ]
    )


@per_language
def resend_code() -> InlineKeyboardMarkup:
    return _inline(
        [InlineKeyboardButton(text=_("Send a new code"), callback_data=ResendCode().pack())]
    )


@per_language
def notification_switches(*, balance: bool, broadcasts: bool) -> InlineKeyboardMarkup:
    """One button per switch, each turning it the other way."""
    return _inline(
        [
            InlineKeyboardButton(
                text=(
                    _("🔕 Turn balance messages off")
                    if balance
                    else _("🔔 Turn balance messages on")
                ),
                callback_data=NotificationSwitch(switch="balance", on=not balance).pack(),
            )
        ],
        [
            InlineKeyboardButton(
                text=_("🔕 Turn news off") if broadcasts else _("🔔 Turn news on"),
                callback_data=NotificationSwitch(switch="broadcasts", on=not broadcasts).pack(),
            )
        ],
    )


@per_language
def cancel_inline() -> InlineKeyboardMarkup:
    return _inline([InlineKeyboardButton(text=_(CANCEL), callback_data=CancelFlow().pack())])
