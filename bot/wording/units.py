"""Numbers, money, points and visits in a language: the one formatting of the chat and the
kiosk. Every function takes the language code and, for plurals, the catalogs (``I18n``)."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Protocol

from babel.core import Locale, UnknownLocaleError
from babel.numbers import UnknownCurrencyError, format_currency, format_decimal

from bot.loyalty.models import Money


class Catalogs(Protocol):
    """What is needed of the catalogs: aiogram's ``I18n`` (``bot.wording.catalogs``) has it."""

    def gettext(
        self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None
    ) -> str: ...


@functools.cache
def parsed_locale(code: str) -> Locale:
    """Babel's ``Locale``, parsed once per language, not once per number."""
    return Locale.parse(code)


def number(value: Decimal | int, code: str) -> str:
    return _formatted(code, str(value))


@functools.lru_cache(maxsize=4096)
def _formatted(code: str, value: str) -> str:
    """Babel's number in this language, kept: the same few numbers (costs, goals, balances)
    appear on every balance view, and Babel takes about 20 µs for each."""
    return format_decimal(Decimal(value), locale=parsed_locale(code))


def money(value: Money, code: str) -> str:
    return _money(code, str(value.amount), value.currency, value.glyph)


@functools.lru_cache(maxsize=4096)
def _money(code: str, text: str, currency: str, glyph: str) -> str:
    """Babel's amount of money in this language, kept as numbers are (``str`` of a
    ``Decimal`` gives it back exactly, exponent included)."""
    locale = parsed_locale(code)
    value = Decimal(text)
    if len(currency) == 3 and currency.isalpha():
        try:
            return format_currency(value, currency.upper(), locale=locale)
        except (UnknownCurrencyError, UnknownLocaleError):
            pass
    amount = format_decimal(value, format="#,##0.00", locale=locale)
    return f"{glyph}{amount}" if glyph else f"{amount} {currency}".strip()


def whole(value: Decimal | int) -> int:
    """The count a plural form is chosen by."""
    return value if isinstance(value, int) else int(value.to_integral_value())


def points(value: Decimal, code: str, catalogs: Catalogs) -> str:
    def ngettext(singular: str, plural: str, n: int) -> str:
        return catalogs.gettext(singular, plural, n, locale=code)

    return ngettext("{points} point", "{points} points", whole(value)).format(
        points=number(value, code)
    )


def visits(value: Decimal | int, code: str, catalogs: Catalogs) -> str:
    def ngettext(singular: str, plural: str, n: int) -> str:
        return catalogs.gettext(singular, plural, n, locale=code)

    return ngettext("{count} visit", "{count} visits", whole(value)).format(
        count=number(value, code)
    )
