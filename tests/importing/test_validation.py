"""Row checks before sending: what is accepted, how it is normalised, and what is refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.importing.validation import (
    DateOrder,
    FieldError,
    MemberRows,
    RowProblem,
    TransactionRows,
    parse_date,
    parse_email,
    parse_flag,
    parse_money,
    parse_phone,
)
from bot.loyalty.models import CampaignKind, ImportOutcome, MemberImportRow, TransactionImportRow

TODAY = dt.date(2025, 6, 1)


def birthday(text: str, order: DateOrder | None = None) -> dt.date:
    return parse_date(text, order=order, earliest=dt.date(1900, 1, 1), latest=TODAY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-07-14", dt.date(1970, 7, 14)),
        ("1970/7/14", dt.date(1970, 7, 14)),
        ("1970-07-14 10:22:00", dt.date(1970, 7, 14)),
        ("1970-07-14T10:22:00+02:00", dt.date(1970, 7, 14)),
        ("14.07.1970", dt.date(1970, 7, 14)),
        ("07/14/1970", dt.date(1970, 7, 14)),
        ("14/07/1970", dt.date(1970, 7, 14)),
        ("14-07-1970", dt.date(1970, 7, 14)),
        ("4/4/2000", dt.date(2000, 4, 4)),
        ("14 Jul 1970", dt.date(1970, 7, 14)),
        ("Jul 14, 1970", dt.date(1970, 7, 14)),
        ("July 14 1970", dt.date(1970, 7, 14)),
        ("14 июля 1970", dt.date(1970, 7, 14)),
        ("3 ene 1999", dt.date(1999, 1, 3)),
    ],
)
def test_common_date_forms_are_read(text: str, expected: dt.date) -> None:
    assert birthday(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("04/03/2010", "ambiguous"),
        ("04-06-05", "four digits"),
        ("14.07.70", "four digits"),
        ("31.02.1990", "not a date"),
        ("2013-0315", "not a date"),
        ("1899-12-31", "out of range"),
        ("2030-01-01", "out of range"),
        ("yesterday", "not a date"),
        ("14 Foo 1970", "unknown month"),
    ],
)
def test_ambiguous_or_absurd_dates_are_refused(text: str, reason: str) -> None:
    with pytest.raises(FieldError, match=reason):
        birthday(text)


def test_date_order_settles_the_ambiguous_forms() -> None:
    assert birthday("04/03/2010", "dmy") == dt.date(2010, 3, 4)
    assert birthday("04/03/2010", "mdy") == dt.date(2010, 4, 3)
    assert birthday("13/03/2010", "mdy") == dt.date(2010, 3, 13)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
def test_every_date_written_unambiguously_reads_back(day: dt.date) -> None:
    forms = [day.isoformat(), day.strftime("%d.%m.%Y"), f"{day.day} {day:%b} {day.year}"]
    if day.day > 12:
        forms += [day.strftime("%d/%m/%Y"), day.strftime("%m/%d/%Y")]
    for text in forms:
        assert birthday(text) == day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9.95", "9.95"),
        ("9,95", "9.95"),
        (".75", "0.75"),
        ("$14.95", "14.95"),
        ("1 234,50", "1234.50"),
        ("1\u00a0234,50", "1234.50"),
        ("12 руб.", "12"),
        ("€5", "5"),
    ],
)
def test_amounts_take_a_comma_or_a_dot(text: str, expected: str) -> None:
    assert parse_money(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["1,234.50", "-3", "abc", "1e3", "NaN", ""])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(FieldError):
        parse_money(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(212) 555-0101", "+12125550101"),
        ("212.555.0101", "+12125550101"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_become_e164(text: str, expected: str) -> None:
    assert parse_phone(text, "US") == expected


def test_phones_without_country_code_use_the_region() -> None:
    assert parse_phone("020 7946 0958", "GB") == "+442079460958"
    assert parse_phone("8 (912) 345-67-89", "RU") == "+79123456789"


@pytest.mark.parametrize("text", ["555-5555", "12", "phone", "+1 000 000 0000"])
def test_bad_phones_are_refused(text: str) -> None:
    with pytest.raises(FieldError):
        parse_phone(text, "US")


def test_emails_are_checked_without_dns() -> None:
    assert parse_email("Ann.Lee@Example.COM") == "Ann.Lee@example.com"
    for bad in ("ann@", "ann", "ann@localhost", "ann@@example.com", "ann@import.test"):
        with pytest.raises(FieldError):
            parse_email(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Y", True), ("yes", True), ("да", True), ("Sí", True), ("N", False), ("", False)],
)
def test_flags(text: str, expected: bool) -> None:
    assert parse_flag(text) is expected


def test_unknown_flag_is_refused() -> None:
    with pytest.raises(FieldError, match="not Y or N"):
        parse_flag("maybe")


MEMBER_COLUMNS = {"code": 0, "email": 1, "phone": 2, "birthday": 3, "signup_bonus": 4}


def members() -> MemberRows:
    return MemberRows(MEMBER_COLUMNS, width=5, region="US", today=TODAY)


def test_a_good_member_row_is_normalised() -> None:
    row = members().read(7, [" C1 ", "Ann@Example.com", "(212) 555-0101", "14.07.1970", "25,5"])

    assert row == MemberImportRow(
        line=7,
        code="C1",
        email="Ann@example.com",
        phone="+12125550101",
        birthday=dt.date(1970, 7, 14),
        signup_bonus=Decimal("25.5"),
    )


def test_every_problem_of_a_member_row_is_named() -> None:
    problem = members().read(3, ["C2", "ann@", "12", "04/03/2010", "-5"])

    assert isinstance(problem, RowProblem)
    assert problem.outcome is ImportOutcome.INVALID
    assert problem.member_code == "C2"
    for column in ("email:", "phone:", "birthday:", "signup_bonus:"):
        assert column in problem.message


def test_a_member_row_needs_something_to_find_the_member_by() -> None:
    problem = MemberRows({"first_name": 0}, width=1, region="US").read(2, ["Ann"])

    assert isinstance(problem, RowProblem)
    assert "code, card_number, phone or email" in problem.message


def test_a_row_with_more_values_than_columns_is_refused_and_a_short_one_padded() -> None:
    reader = members()

    shifted = reader.read(4, ["C3", "a@example.com", "", "", "", "surplus"])
    short = reader.read(5, ["C4", "a@example.com"])

    assert isinstance(shifted, RowProblem) and "6 values for 5 columns" in shifted.message
    assert isinstance(short, MemberImportRow) and short.code == "C4"


def test_a_line_break_inside_a_value_is_refused() -> None:
    problem = MemberRows({"code": 0, "first_name": 1}, width=2, region="US").read(
        2, ["C5", "Ann\nLee"]
    )

    assert isinstance(problem, RowProblem) and "first_name: holds a line break" in problem.message


TX_COLUMNS = {"campaign_id": 0, "member": 1, "redeemed": 2, "amount": 3, "item": 4, "date": 5}
KINDS = {
    "P": CampaignKind.POINTS,
    "G": CampaignKind.GIFTCARD,
    "E": CampaignKind.EVENTS,
    "R": CampaignKind.EARNED,
    "B": CampaignKind.BUYX,
}


def transactions(default_campaign: str = "") -> TransactionRows:
    return TransactionRows(
        TX_COLUMNS, width=6, campaigns=KINDS, default_campaign=default_campaign, today=TODAY
    )


def test_a_good_transaction_row() -> None:
    row = transactions().read(2, ["G", "12121", "N", "14,95", "", "2010-03-15"])

    assert row == TransactionImportRow(
        line=2,
        campaign_id="G",
        member="12121",
        amount=Decimal("14.95"),
        date=dt.date(2010, 3, 15),
    )


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (["G", "12121", "N", "", "", ""], "gift-card row needs an amount"),
        (["B", "12121", "N", "3", "", ""], "buy-X row needs the item"),
        (["P", "12121", "N", "5", "Coffees", ""], "only buy-X campaigns take an item"),
        (["E", "12121", "Y", "", "", ""], "redemption needs the amount"),
        (["P", "12121", "N", "14,95", "", ""], "whole points"),
        (["E", "12121", "Y", "1.5", "", ""], "whole visits"),
        (["P", "", "N", "5", "", ""], "member's code or card number is missing"),
        (["P", "12121", "maybe", "5", "", ""], "not Y or N"),
        (["P", "12121", "N", "5", "", "2013-0315"], "not a date"),
        (["P", "12121", "N", "5", "", "1980-01-01"], "out of range"),
        (["", "12121", "N", "5", "", ""], "--campaigns"),
    ],
)
def test_transaction_rows_are_checked_per_campaign_kind(cells: list[str], reason: str) -> None:
    problem = transactions().read(9, cells)

    assert isinstance(problem, RowProblem)
    assert reason in problem.message


def test_an_unknown_campaign_is_not_found() -> None:
    problem = transactions().read(2, ["X", "12121", "N", "5", "", ""])

    assert isinstance(problem, RowProblem)
    assert problem.outcome is ImportOutcome.NOT_FOUND
    assert "no campaign X" in problem.message


def test_rows_without_a_campaign_take_the_default_one() -> None:
    row = transactions(default_campaign="E").read(2, ["", "12121", "N", "", "", ""])

    assert isinstance(row, TransactionImportRow) and row.campaign_id == "E"


def test_without_known_campaigns_only_the_values_are_checked() -> None:
    reader = TransactionRows(TX_COLUMNS, width=6, campaigns=None, today=TODAY)

    row = reader.read(2, ["X", "12121", "Y", "14,95", "", ""])

    assert isinstance(row, TransactionImportRow) and row.amount == Decimal("14.95")
