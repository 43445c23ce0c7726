"""One phone rule for the chat, the kiosk, the import and the clients (``bot.loyalty.phones``)."""

from __future__ import annotations

import phonenumbers
import pytest

from bot.importing.validation import FieldError, parse_phone
from bot.loyalty.phones import PhoneError, normalize_contact_phone, normalize_phone, phone_key
from bot.services.contacts import InvalidPhone
from bot.services.contacts import normalize_contact_phone as chat_contact_phone
from bot.services.kiosk import parse_contact

POSSIBLE_NOT_VALID = "+1 555 555 0101"


def test_the_example_is_possible_but_not_valid_for_libphonenumber() -> None:
    number = phonenumbers.parse(POSSIBLE_NOT_VALID)
    assert phonenumbers.is_possible_number(number)
    assert not phonenumbers.is_valid_number(number)


def test_a_verified_contact_needs_only_a_possible_number() -> None:
    assert normalize_contact_phone("15555550101", "US", verified=True) == "+15555550101"
    assert chat_contact_phone("15555550101", "GB", verified=True) == "+15555550101"


def test_an_unverified_or_typed_number_must_be_valid() -> None:
    with pytest.raises(PhoneError):
        normalize_phone(POSSIBLE_NOT_VALID, "US")
    with pytest.raises(InvalidPhone):
        chat_contact_phone("15555550101", "US", verified=False)
    with pytest.raises(FieldError):
        parse_phone(POSSIBLE_NOT_VALID, "US")


def test_an_impossible_number_is_refused_even_verified() -> None:
    with pytest.raises(PhoneError):
        normalize_contact_phone("1555", "US", verified=True)


@pytest.mark.parametrize(
    ("chat_contact", "kiosk_typed", "import_cell", "region"),
    [
        ("12025550143", "(202) 555-0143", "202.555.0143", "US"),
        ("442079460958", "+44 20 7946 0958", "0044 20 7946 0958", "US"),
        ("442079460958", "020 7946 0958", "0044 20 7946 0958", "GB"),
        ("79161234567", "8 (916) 123-45-67", "+7 916 123-45-67", "RU"),
    ],
)
def test_chat_kiosk_and_import_agree_on_one_e164(
    chat_contact: str, kiosk_typed: str, import_cell: str, region: str
) -> None:
    chat = chat_contact_phone(chat_contact, region, verified=True)
    kiosk = parse_contact(kiosk_typed, region).phone
    imported = parse_phone(import_cell, region)
    assert chat == kiosk == imported
    assert phone_key(import_cell, region) == imported


@pytest.mark.parametrize("region", ["US", "GB", "DE", "RU"])
def test_a_00_prefix_is_international_everywhere(region: str) -> None:
    assert normalize_phone("0044 20 7946 0958", region) == "+442079460958"
    assert parse_phone("0044 20 7946 0958", region) == "+442079460958"
    assert parse_contact("0044 20 7946 0958", region).phone == "+442079460958"


def test_phone_key_never_raises() -> None:
    assert phone_key("not a phone", "US") is None
    assert phone_key("12", "US") is None
    assert phone_key("15555550101", "US") == "+15555550101"
