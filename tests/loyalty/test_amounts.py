"""``parse_amount``: both decimal separators, exact Decimals, refusals of everything else."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.loyalty.amounts import AmountError, format_amount, parse_amount

finite_decimals = st.decimals(
    allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12
)


@given(finite_decimals, st.sampled_from([".", ","]))
def test_round_trip_with_either_separator(value: Decimal, separator: str) -> None:
    text = format(value, "f").replace(".", separator)
    parsed = parse_amount(text)
    assert type(parsed) is Decimal
    assert parsed == value


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=99))
def test_money_as_merchants_write_it(units: int, cents: int) -> None:
    expected = Decimal(units) + Decimal(cents) / 100
    assert parse_amount(f"{units}.{cents:02d}") == expected
    assert parse_amount(f"{units},{cents:02d}") == expected
    assert parse_amount(f" {units},{cents:02d}\n") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9.95", Decimal("9.95")),
        ("9,95", Decimal("9.95")),
        ("14,95", Decimal("14.95")),
        ("0,50", Decimal("0.50")),
        (".75", Decimal("0.75")),
        (",75", Decimal("0.75")),
        ("14", Decimal(14)),
        ("-2.5", Decimal("-2.5")),
        ("+3", Decimal(3)),
        ("1500", Decimal(1500)),
        ("5.", Decimal(5)),
    ],
)
def test_documented_forms(text: str, expected: Decimal) -> None:
    parsed = parse_amount(text)
    assert parsed == expected
    assert type(parsed) is Decimal


@pytest.mark.parametrize(
    "text",
    ["", " ", ".", ",", "1,000.50", "1.000,50", "1e3", "1E3", "NaN", "nan", "inf", "Infinity",
     "-", "+", "--1", "1.2.3", "1_000", "0x10", "$5", "5 USD", "5 5", "½", "None", "true"],
)  # fmt: skip
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


@given(st.text(max_size=20))
def test_any_text_is_an_exact_decimal_or_refused(text: str) -> None:
    try:
        parsed = parse_amount(text)
    except AmountError:
        return
    assert type(parsed) is Decimal
    assert parsed.is_finite()
    assert parsed == Decimal(text.strip().replace(",", "."))


def test_ints_and_decimals_pass_through_exactly() -> None:
    assert parse_amount(7) == Decimal(7)
    assert type(parse_amount(7)) is Decimal
    assert parse_amount(Decimal("1.10")) == Decimal("1.10")
    for value in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(AmountError):
            parse_amount(value)


@given(finite_decimals)
def test_format_then_parse_keeps_cents(value: Decimal) -> None:
    text = format_amount(value)
    assert len(text.rsplit(".", 1)[1]) == 2
    assert parse_amount(text) == value.quantize(Decimal("0.01"))
