"""The sandbox reads amounts with its own code, apart from the client's parser."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.loyalty.amounts import AmountError, parse_amount
from bot.sandbox.clienttoolbox.arithmetic import (
    AmountProblem,
    format_cents,
    money_cents,
    money_value,
)

SAME_ANSWER = ["9.95", "9,95", ".75", "14", "+3", "14.", ",5", " 0,5", "  7 ", "0.125"]
BOTH_REFUSE = ["1,000.50", "1e3", "NaN", "", "1.2.3", "-", ".", "1,2,3", "1.,2", "--1", "Infinity"]


@pytest.mark.parametrize("text", SAME_ANSWER)
def test_the_sandbox_reads_documented_amounts_as_the_client_does(text: str) -> None:
    assert money_value(text, "amount") == parse_amount(text)


def test_a_negative_purchase_is_refused_by_the_sandbox() -> None:
    assert parse_amount("-2.5") == Decimal("-2.5")
    with pytest.raises(AmountProblem):
        money_value("-2.5", "amount")


@pytest.mark.parametrize("text", BOTH_REFUSE)
def test_the_sandbox_and_the_client_refuse_the_same_malformed_amounts(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)
    with pytest.raises(AmountProblem):
        money_cents(text, "amount")


@pytest.mark.parametrize("cents", [0, 1, -5, 99, 1234, -123456])
def test_cents_are_written_with_a_dot_and_two_decimals(cents: int) -> None:
    assert format_cents(cents) == str(Decimal(cents).scaleb(-2).quantize(Decimal("0.01")))
