"""Altcraft answers read exactly: balances as ``Decimal``, never through a float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.loyalty.altcraft.wire import decode_answer, parse_balance, parse_points_operation
from bot.loyalty.errors import ProtocolError


def test_json_number_balances_are_read_exactly() -> None:
    answer = decode_answer(
        b'{"error": 0, "data": {"total_balance": 12345678901234567.89, "active_balance": 0.1}}'
    )
    balance = parse_balance(answer)
    assert balance.total == Decimal("12345678901234567.89")
    assert balance.active == Decimal("0.1")


def test_json_number_and_text_balances_read_the_same() -> None:
    as_number = decode_answer(b'{"error": 0, "data": {"transaction_id": "t1", "balance": 19.99}}')
    as_text = decode_answer(b'{"error": 0, "data": {"transaction_id": "t1", "balance": "19.99"}}')
    assert parse_points_operation(as_number) == parse_points_operation(as_text)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_balance_that_is_not_a_number_is_a_protocol_error(constant: bytes) -> None:
    body = b'{"error": 0, "data": {"total_balance": %s, "active_balance": 1}}' % constant
    with pytest.raises(ProtocolError):
        parse_balance(decode_answer(body))
