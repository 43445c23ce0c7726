"""The one phone rule, used by the chat, the kiosk, the import and the platform clients.

- A number is read with ``region`` for national forms; a leading ``00`` is the international
  prefix (``0044 20 …`` is ``+44 20 …``) in every region.
- A number someone **typed** (chat text, kiosk keypad, an import file, the links command) must
  be valid for libphonenumber's metadata: a typo is caught before a member is made with it.
- A number **Telegram verified** (a shared contact whose ``user_id`` is the sender) need only be
  possible (a plausible length for its country): Telegram has already proved the member owns
  it, and libphonenumber's metadata lags new ranges (and calls ``+1 555 555 0101`` invalid).
- The result is always E.164 (``+15555550101``); the same number typed in the chat and written
  in an import file becomes the same string.
- ``phone_key`` is the lenient form for matching numbers already stored on a platform
  (possible numbers, ``None`` for anything else); it never refuses a member.
"""

from __future__ import annotations

import phonenumbers


class PhoneError(ValueError):
    """Not a usable phone number; the text says why."""


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber:
    text = text.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(str(exc)) from None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(text: str, region: str, *, verified: bool = False) -> str:
    """``text`` as E.164, or ``PhoneError``. ``verified``: Telegram vouched for the number
    (possible is enough); otherwise it must be valid."""
    number = _parse(text, region)
    if verified:
        if not phonenumbers.is_possible_number(number):
            raise PhoneError("not a possible phone number")
    elif not phonenumbers.is_valid_number(number):
        raise PhoneError("not a valid phone number")
    return _e164(number)


def normalize_contact_phone(text: str, region: str, *, verified: bool) -> str:
    """The number of a shared Telegram contact. Telegram sends it internationally but often
    without the ``+``; a national reading is only a fallback for clients that send otherwise."""
    digits = text.strip()
    if digits and not digits.startswith(("+", "00")):
        try:
            return normalize_phone(f"+{digits}", region, verified=verified)
        except PhoneError:
            pass
    return normalize_phone(digits, region, verified=verified)


def phone_key(text: str, region: str) -> str | None:
    """E.164 of a stored number for comparing, or ``None`` if it is not a possible number."""
    try:
        return normalize_phone(text, region, verified=True)
    except PhoneError:
        return None
