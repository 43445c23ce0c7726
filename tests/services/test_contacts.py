"""Phone, email and birthday normalisation."""

from __future__ import annotations

import datetime as dt

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.contacts import (
    FutureDate,
    ImplausibleDate,
    InvalidDate,
    InvalidEmail,
    InvalidPhone,
    mask_email,
    normalize_contact_phone,
    normalize_email,
    normalize_phone,
    parse_birthday,
)

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("(202) 555-0143", "US", "+12025550143"),
        ("+1 202 555 0143", "DE", "+12025550143"),
        ("8 (916) 123-45-67", "RU", "+79161234567"),
        ("030 901820", "DE", "+4930901820"),
    ],
)
def test_phone_numbers_become_e164(typed: str, region: str, e164: str) -> None:
    assert normalize_phone(typed, region) == e164


@pytest.mark.parametrize("typed", ["", "12", "not a phone", "+1 555 555 0123"])
def test_unusable_phone_numbers_are_refused(typed: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(typed, "US")


def test_telegram_contact_numbers_are_international_without_plus() -> None:
    # A Russian number read in the US region would be wrong without the implied "+".
    assert normalize_contact_phone("79161234567", "US", verified=True) == "+79161234567"
    assert normalize_contact_phone("+442071838750", "US", verified=True) == "+442071838750"


@given(st.sampled_from(["US", "GB", "RU", "ES", "DE"]), st.integers(0, 10**6))
def test_e164_is_a_fixed_point(region: str, seed: int) -> None:
    example = phonenumbers.example_number(region)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert normalize_phone(national, region) == e164
    assert normalize_phone(e164, "US") == e164
    assert normalize_contact_phone(e164.lstrip("+"), region, verified=True) == e164


def test_emails_are_normalised_without_a_dns_lookup() -> None:
    assert normalize_email("  Jane.Doe@Example.COM ") == "Jane.Doe@example.com"
    assert normalize_email("jane@no-such-domain-for-sure.example") == (
        "jane@no-such-domain-for-sure.example"
    )


@pytest.mark.parametrize("typed", ["", "jane", "jane@", "@example.com", "jane@@example.com"])
def test_bad_emails_are_refused(typed: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(typed)


@given(st.text(max_size=40))
def test_email_normalisation_never_crashes(text: str) -> None:
    try:
        normalised = normalize_email(text)
    except InvalidEmail:
        return
    assert normalize_email(normalised) == normalised


def test_masked_email_shows_only_the_first_letter() -> None:
    assert mask_email("jane@example.com") == "j***@example.com"


@pytest.mark.parametrize(
    "typed",
    [
        "1970-07-14",
        "1970-7-14",
        "14.07.1970",
        "14/07/1970",
        "14-07-1970",
        "July 14 1970",
        "July 14, 1970",
        "14 July 1970",
        "Jul 14 1970",
        "14.7.70",
        "14 июля 1970",
        "14 июля 1970 г.",
        "14 de julio de 1970",
        "julio 14, 1970",
    ],
)
def test_birthday_forms(typed: str) -> None:
    assert parse_birthday(typed, today=TODAY) == dt.date(1970, 7, 14)


def test_ambiguous_slash_dates_follow_the_region() -> None:
    assert parse_birthday("03/04/1970", today=TODAY) == dt.date(1970, 4, 3)
    assert parse_birthday("03/04/1970", today=TODAY, region="US") == dt.date(1970, 3, 4)
    assert parse_birthday("07/14/1970", today=TODAY, region="GB") == dt.date(1970, 7, 14)


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("2027-01-01", FutureDate),
        ("24.11.2026", FutureDate),
        ("1900-01-01", ImplausibleDate),
        ("31.02.1990", InvalidDate),
        ("1990", InvalidDate),
        ("next tuesday", InvalidDate),
        ("14 Smarch 1970", InvalidDate),
        ("1 2 3 4", InvalidDate),
        ("123.07.1970", InvalidDate),
    ],
)
def test_impossible_birthdays_are_refused(typed: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_birthday(typed, today=TODAY)


@given(st.text(max_size=30))
def test_birthday_parsing_never_crashes(text: str) -> None:
    try:
        birthday = parse_birthday(text, today=TODAY)
    except (InvalidDate, FutureDate, ImplausibleDate):
        return
    assert dt.date(TODAY.year - 120, 1, 1) <= birthday <= TODAY


@given(st.dates(min_value=dt.date(1907, 1, 1), max_value=TODAY))
def test_iso_dates_round_trip(day: dt.date) -> None:
    assert parse_birthday(day.isoformat(), today=TODAY) == day
    assert parse_birthday(day.strftime("%d.%m.%Y"), today=TODAY) == day
