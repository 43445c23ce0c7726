"""Balance arithmetic, as ``docs/clienttoolbox-wire.md`` fixes it where the vendor is silent.

Money is integer cents here; points, events and items are integers. No floats anywhere.
The sandbox reads and writes amounts with its own code, written apart from the client's
(``bot/loyalty/amounts.py``), so a bug in one shows up against the other in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bot.sandbox.clienttoolbox.ledger import MONEY_KINDS, Campaign, Promo

DEFAULT_POINTS_RATIO = Decimal(100)


class AmountProblem(ValueError):
    """An amount the API refuses; the message names the field and the value."""


def _digits(part: str) -> bool:
    return part.isascii() and part.isdigit()


def _amount(text: str, name: str) -> Decimal:
    """``9.95``, ``9,95``, ``.75``, ``14``, ``-2.5``: digits with at most one ``.`` or ``,``
    as the decimal mark (the vendor documents "9.95 or 9,95"); no thousands separator, no
    exponent, no ``NaN``."""
    body = text.strip()
    sign = body[:1] if body[:1] in ("+", "-") else ""
    body = body[len(sign) :]
    mark = "." if "." in body else "," if "," in body else ""
    head, _, tail = body.partition(mark) if mark else (body, "", "")
    if not (head or tail) or any(part and not _digits(part) for part in (head, tail)):
        raise AmountProblem(f"{name} {text!r} is not an amount")
    return Decimal(f"{sign}{head}{'.' if mark else ''}{tail}")


def _count(value: Decimal, text: str, name: str, fraction: str, *, positive: bool) -> int:
    """``value`` as a whole count (``fraction``: why a fraction is refused), above 0 or, when
    not ``positive``, at least 0."""
    if value != value.to_integral_value():
        raise AmountProblem(f"{name} {text!r} {fraction}")
    if value < 0 or (positive and value == 0):
        raise AmountProblem(f"{name} {text!r} must be {'above' if positive else 'at least'} 0")
    return int(value)


def money_cents(text: str, name: str, *, positive: bool = True) -> int:
    """``9.95``, ``9,95``, ``.75`` → cents; more than two decimals is refused."""
    cents = _amount(text, name) * 100
    return _count(cents, text, name, "has more than two decimals", positive=positive)


def money_value(text: str, name: str) -> Decimal:
    """A purchase amount: any non-negative decimal (points are computed from it)."""
    value = _amount(text, name)
    if value < 0:
        raise AmountProblem(f"{name} {text!r} must not be negative")
    return value


def whole(text: str, name: str, *, unit: str, positive: bool = True) -> int:
    value = _amount(text, name)
    return _count(value, text, name, f"is not a whole number of {unit}", positive=positive)


def purchase_points(campaign: Campaign, cents: int) -> int:
    """``floor(amount × points_ratio)``; a blank ratio means 100 (cents are captured)."""
    ratio = campaign.points_ratio or DEFAULT_POINTS_RATIO
    return int((Decimal(cents).scaleb(-2) * ratio).to_integral_value(rounding=ROUND_FLOOR))


def apply_promos(points: int, promos: Iterable[Promo]) -> int:
    """``x`` multiplies (rounded down), ``+`` adds; never below zero."""
    for promo in promos:
        if promo.operation == "x":
            points = int((points * promo.value).to_integral_value(rounding=ROUND_FLOOR))
        else:
            points += int(promo.value.to_integral_value(rounding=ROUND_FLOOR))
    return max(points, 0)


def points_for_money(campaign: Campaign, cents: int) -> int:
    """Points a money redemption costs: ``ceil(amount / reward_ratio)``."""
    assert campaign.reward_ratio
    amount = Decimal(cents).scaleb(-2)
    return int((amount / campaign.reward_ratio).to_integral_value(rounding=ROUND_CEILING))


def points_value_cents(campaign: Campaign, points: int) -> int:
    """Money value of points through the reward ratio, rounded down to the cent."""
    if not campaign.reward_ratio:
        return 0
    cents = points * campaign.reward_ratio * 100
    return int(cents.to_integral_value(rounding=ROUND_FLOOR))


def format_cents(cents: int) -> str:
    """``1234`` → ``12.34``, ``-5`` → ``-0.05``: a dot and two decimals, as the wire has it."""
    sign = "-" if cents < 0 else ""
    whole_units, rest = divmod(abs(cents), 100)
    return f"{sign}{whole_units}.{rest:02d}"


def format_units(campaign: Campaign, units: int) -> str:
    """A balance or amount as the wire writes it: money with two decimals, else an integer."""
    return format_cents(units) if campaign.kind in MONEY_KINDS else str(units)


def unit_name(campaign: Campaign) -> str:
    return {
        "points": "points",
        "giftcard": "money",
        "events": "events",
        "earned": "money",
        "buyx": "items",
    }[campaign.kind]


def describe_units(campaign: Campaign, units: int) -> str:
    """``300 points``, ``$38.75``, ``4 events``: for error messages."""
    if campaign.kind in MONEY_KINDS:
        return f"{campaign.glyph}{format_cents(units)}"
    return f"{units} {unit_name(campaign)}"
