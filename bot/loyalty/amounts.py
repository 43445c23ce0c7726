"""Parsing of money and point amounts as the platforms and the merchants write them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_AMOUNT = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


class AmountError(ValueError):
    """The text is not an amount."""


def parse_amount(text: str | int | Decimal) -> Decimal:
    """Parse ``9.95``, ``9,95``, ``.75``, ``14``, ``-2.5`` into a ``Decimal``.

    A comma is a decimal separator (never a thousands separator): the platforms document
    ``9.95 or 9,95``. Anything else (``1,000.50``, ``1e3``, ``NaN``, empty) is refused.
    """
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise AmountError(f"not a finite amount: {text}")
        return text
    if isinstance(text, int):
        return Decimal(text)
    cleaned = text.strip()
    if not _AMOUNT.match(cleaned):
        raise AmountError(f"not an amount: {text!r}")
    try:
        return Decimal(cleaned.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid forms
        raise AmountError(f"not an amount: {text!r}") from exc


def format_amount(value: Decimal, places: int = 2) -> str:
    """Format money the way the platforms answer it: a dot and fixed decimals."""
    quantum = Decimal(1).scaleb(-places)
    return str(value.quantize(quantum))
