"""What a kiosk may show of a member's contact: enough to recognise, too little to use.

``+1 ••• ••• 55 55`` for a phone (country code and last four digits), ``j•••@example.com`` for
an email (first letter and domain).
"""

from __future__ import annotations

import phonenumbers

from bot.loyalty.models import Member

BULLET = "•"
VISIBLE_DIGITS = 4


def _hidden_groups(count: int) -> str:
    groups = [BULLET * min(3, count - start) for start in range(0, count, 3)]
    return " ".join(groups)


def mask_phone(phone: str) -> str:
    """``+12025555555`` → ``+1 ••• ••• 55 55``; a number that does not parse keeps only its
    last four digits."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        return ""
    try:
        number = phonenumbers.parse(phone if phone.strip().startswith("+") else f"+{digits}")
        country = f"+{number.country_code} "
        national = str(number.national_number)
        if not phonenumbers.is_possible_number(number):
            raise ValueError
    except (phonenumbers.NumberParseException, ValueError):
        country, national = "", digits
    if len(national) <= VISIBLE_DIGITS:
        return country + BULLET * len(national)
    tail = national[-VISIBLE_DIGITS:]
    hidden = _hidden_groups(len(national) - VISIBLE_DIGITS)
    return f"{country}{hidden} {tail[:2]} {tail[2:]}"


def mask_email(email: str) -> str:
    """``jane@example.com`` → ``j•••@example.com``."""
    local, at, domain = email.strip().partition("@")
    if not at or not local or not domain:
        return BULLET * 3
    return f"{local[:1]}{BULLET * 3}@{domain}"


def masked_contact(member: Member) -> str:
    """The member's phone masked, else their email masked, else nothing."""
    if member.phone and (masked := mask_phone(member.phone)):
        return masked
    if member.email:
        return mask_email(member.email)
    return ""
