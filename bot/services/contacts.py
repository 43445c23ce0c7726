"""Normalising what members type or share: phone numbers, emails and birthdays."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

from babel import Locale
from email_validator import EmailNotValidError, validate_email

from bot.loyalty import phones


class ContactError(ValueError):
    """The text is not a usable phone number, email or date."""


class InvalidPhone(ContactError):
    pass


class InvalidEmail(ContactError):
    pass


class InvalidDate(ContactError):
    """Not a date we can read."""


class FutureDate(ContactError):
    """A birthday in the future."""


class ImplausibleDate(ContactError):
    """A birthday too long ago to be a living member's."""


OLDEST_AGE_YEARS = 120
MONTH_FIRST_REGIONS = frozenset({"US"})
"""Regions where an ambiguous ``03/04/1970`` means March 4th."""


def normalize_phone(text: str, region: str) -> str:
    """A typed number as E.164 (``+15555550100``), or ``InvalidPhone``; the rule is
    ``bot.loyalty.phones`` (a typed number must be valid)."""
    try:
        return phones.normalize_phone(text, region)
    except phones.PhoneError as exc:
        raise InvalidPhone(str(exc)) from None


def normalize_contact_phone(text: str, region: str, *, verified: bool) -> str:
    """The number of a shared Telegram contact as E.164, or ``InvalidPhone``; ``verified``
    (the contact is the sender's own) accepts any possible number (``bot.loyalty.phones``)."""
    try:
        return phones.normalize_contact_phone(text, region, verified=verified)
    except phones.PhoneError as exc:
        raise InvalidPhone(str(exc)) from None


def normalize_email(text: str) -> str:
    """Return the normalised address, or raise ``InvalidEmail``; no DNS lookup is made."""
    try:
        result = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return result.normalized


def mask_email(email: str) -> str:
    """``jane@example.com`` → ``j***@example.com``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


_TOKEN = re.compile(r"\d+|[^\W\d_]+\.?")
_FILLER = frozenset({"de", "of", "the", "г", "г.", "года", "год", "del"})
_MONTH_LOCALES = ("en", "ru", "es")


@cache
def _month_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for code in _MONTH_LOCALES:
        months = Locale.parse(code).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in months[context][width].items():
                    names[name.lower().rstrip(".")] = int(number)
    return names


def _month(word: str) -> int | None:
    word = word.lower().rstrip(".")
    names = _month_names()
    if word in names:
        return names[word]
    if len(word) < 3:
        return None
    found = {number for name, number in names.items() if name.startswith(word)}
    return found.pop() if len(found) == 1 else None


def _full_year(year: int, digits: int, today: dt.date) -> int:
    if digits != 2:
        return year
    century = today.year - today.year % 100
    return century + year if century + year <= today.year else century - 100 + year


def parse_birthday(text: str, *, today: dt.date, region: str = "") -> dt.date:
    """Read a birthday written the way people write dates.

    ``1970-07-14``, ``1970-7-14``, ``14.07.1970``, ``14/07/1970``, ``July 14 1970``,
    ``14 July 1970``, ``Jul 14, 1970``, ``14 июля 1970``, ``14 de julio de 1970``; an
    ambiguous ``03/04/1970`` is read month-first only in month-first regions (the US).
    Refuses dates in the future and more than 120 years ago.
    """
    tokens = [t for t in _TOKEN.findall(text.strip()) if t.lower() not in _FILLER]
    numbers = [t for t in tokens if t.isdigit()]
    words = [t for t in tokens if not t.isdigit()]
    if len(words) > 1 or len(tokens) != 3:
        raise InvalidDate(text)
    if words:
        month = _month(words[0])
        if month is None or len(numbers) != 2:
            raise InvalidDate(text)
        first, second = numbers
        day_text, year_text = (second, first) if len(first) == 4 else (first, second)
    else:
        first, second, third = numbers
        if len(first) == 4:
            year_text, month_text, day_text = first, second, third
        else:
            year_text = third
            day_text, month_text = first, second
            month_first = region.upper() in MONTH_FIRST_REGIONS and "/" in text
            if (month_first and int(first) <= 12) or int(second) > 12:
                day_text, month_text = second, first
        month = int(month_text)
    if len(year_text) not in (2, 4) or len(day_text) > 2:
        raise InvalidDate(text)
    year = _full_year(int(year_text), len(year_text), today)
    try:
        birthday = dt.date(year, month, int(day_text))
    except ValueError:
        raise InvalidDate(text) from None
    if birthday > today:
        raise FutureDate(text)
    if birthday.year < today.year - OLDEST_AGE_YEARS:
        raise ImplausibleDate(text)
    return birthday
