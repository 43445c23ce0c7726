"""Amounts of money are kept once formatted, by language, amount, currency and glyph."""

from __future__ import annotations

from decimal import Decimal

from bot.loyalty.models import Money
from bot.wording import units


def test_kept_amounts_never_cross_languages_currencies_or_glyphs() -> None:
    seen = [
        units.money(Money(amount=Decimal("4.50"), currency="USD"), "en"),
        units.money(Money(amount=Decimal("4.50"), currency="EUR"), "en"),
        units.money(Money(amount=Decimal("4.50"), currency="USD"), "ru"),
        units.money(Money(amount=Decimal("4.5"), glyph="£"), "en"),
        units.money(Money(amount=Decimal("4.5"), currency="coins"), "en"),
        units.money(Money(amount=Decimal("1234.5"), currency="USD"), "en"),
    ]
    assert seen == ["$4.50", "€4.50", "4,50\xa0$", "£4.50", "4.50 coins", "$1,234.50"]
    # Asked again (now from the kept answers), the same words.
    assert units.money(Money(amount=Decimal("4.50"), currency="USD"), "ru") == seen[2]
    assert units.money(Money(amount=Decimal("4.5"), glyph="£"), "en") == seen[3]
