"""Unique random customer codes and card numbers."""

from __future__ import annotations

import secrets

from bot.sandbox.clienttoolbox.calls import ApiError
from bot.sandbox.clienttoolbox.ledger import Ledger

CODE_DIGITS = 16
_ATTEMPTS = 50
_EXHAUSTIVE_DIGITS = 5


def _random_digits(count: int, *, leading_zero: bool) -> str:
    first = str(secrets.randbelow(10) if leading_zero else 1 + secrets.randbelow(9))
    return first + "".join(str(secrets.randbelow(10)) for _ in range(count - 1))


def new_code(ledger: Ledger, account_id: str) -> str:
    """A 16-digit code not used in the account (no leading zero, so it survives as a number)."""
    for _ in range(_ATTEMPTS):
        code = _random_digits(CODE_DIGITS, leading_zero=False)
        if not ledger.code_taken(account_id, code):
            return code
    raise ApiError("could not generate a unique code")  # pragma: no cover - 10^15 choices


def new_card_number(
    ledger: Ledger, account_id: str, digits: int, prefix: str = "", suffix: str = ""
) -> str:
    """A card number of ``digits`` digits in all, prefix and suffix included."""
    for name, part in (("card_number_prefix", prefix), ("card_number_suffix", suffix)):
        if part and not part.isdigit():
            raise ApiError(f"{name} must be digits, not {part!r}")
    random_part = digits - len(prefix) - len(suffix)
    if random_part < 1:
        raise ApiError(
            f"a {digits}-digit card number has no room for prefix {prefix!r} and suffix {suffix!r}"
        )
    for _ in range(_ATTEMPTS):
        card = prefix + _random_digits(random_part, leading_zero=bool(prefix)) + suffix
        if not ledger.card_taken(account_id, card):
            return card
    if random_part <= _EXHAUSTIVE_DIGITS:
        # A small, crowded space: pick among the numbers still free instead of guessing.
        taken = ledger.cards_shaped(account_id, prefix, suffix, digits)
        low = 0 if prefix else 10 ** (random_part - 1)
        free = [
            card
            for number in range(low, 10**random_part)
            if (card := f"{prefix}{number:0{random_part}d}{suffix}") not in taken
        ]
        if free:
            return free[secrets.randbelow(len(free))]
    raise ApiError(f"no unused {digits}-digit card number is left with this prefix and suffix")
