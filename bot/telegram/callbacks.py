"""Inline button payloads. Each is parsed back by its router; nothing else trusts them."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class RetryAction(StrEnum):
    JOIN = "join"
    BALANCE = "balance"
    CARD = "card"
    HISTORY = "history"
    PROFILE = "profile"
    PROFILE_SAVE = "profile_save"
    MENU = "menu"
    INVITE = "invite"


class Retry(CallbackData, prefix="retry"):
    action: RetryAction


class BalanceRefresh(CallbackData, prefix="bal"):
    pass


class HistoryPage(CallbackData, prefix="hist"):
    page: int


class ProfileField(StrEnum):
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    EMAIL = "email"
    BIRTHDAY = "birthday"


class ProfileEdit(CallbackData, prefix="prof"):
    field: ProfileField


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ForgetAnswer(CallbackData, prefix="forget"):
    confirmed: bool


class ForgetAsk(CallbackData, prefix="forget_ask"):
    pass


class ResendCode(CallbackData, prefix="code"):
    pass


class ShowHistory(CallbackData, prefix="hist_open"):
    pass


class NotificationSwitch(CallbackData, prefix="notif"):
    switch: str
    """``balance`` or ``broadcasts``."""
    on: bool


class CancelFlow(CallbackData, prefix="cancel"):
    pass
