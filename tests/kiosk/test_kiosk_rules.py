"""The kiosk's rules without a server: masking, limits, PINs, pairing codes, what counts as a
card number or a contact, and the ``loyalty-bot kiosk`` command."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.__main__ import main
from bot.loyalty.models import Member
from bot.services.contacts import ContactError
from bot.services.kiosk import card_text, parse_contact
from bot.services.kiosk_pairing import KioskPairing, pairing_code_from
from bot.services.masking import mask_email, mask_phone, masked_contact
from bot.services.rate_limits import RateLimited, SlidingWindowLimit
from bot.services.staff_pin import InvalidPin, check_pin_shape, hash_pin, pin_matches
from bot.storage.database import open_database
from bot.storage.kiosks import Kiosks


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+12025550155", "+1 ••• ••• 01 55"),
        ("+79161234567", "+7 ••• ••• 45 67"),
        ("+442079460958", "+44 ••• ••• 09 58"),
        ("555-5555", "••• 55 55"),
        ("12", "••"),
        ("", ""),
    ],
)
def test_a_phone_shows_its_country_and_last_four_digits(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@given(st.text(alphabet="+0123456789 -()", max_size=20))
def test_a_masked_phone_never_shows_more_than_four_digits_past_the_country(text: str) -> None:
    masked = mask_phone(text)
    country, _, rest = masked.partition(" ") if masked.startswith("+") else ("", "", masked)
    assert sum(ch.isdigit() for ch in rest) <= 4
    assert len(country) <= 4


def test_an_email_shows_its_first_letter_and_domain() -> None:
    assert mask_email("jane@example.com") == "j•••@example.com"
    assert mask_email("not an email") == "•••"
    both = Member(code="1", phone="+12025550155", email="jane@example.com")
    assert masked_contact(both) == "+1 ••• ••• 01 55"
    assert masked_contact(Member(code="1", email="jane@example.com")) == "j•••@example.com"
    assert masked_contact(Member(code="1")) == ""


def test_a_sliding_window_allows_the_limit_and_tells_when_to_retry() -> None:
    now = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    clock = [now]
    limit = SlidingWindowLimit(2, dt.timedelta(seconds=60), clock=lambda: clock[0])
    limit.take("kiosk 1")
    clock[0] += dt.timedelta(seconds=20)
    limit.take("kiosk 1")
    limit.take("kiosk 2")
    with pytest.raises(RateLimited) as refused:
        limit.take("kiosk 1")
    assert refused.value.retry_after == dt.timedelta(seconds=40)
    assert limit.remaining("kiosk 1") == 0
    clock[0] += dt.timedelta(seconds=40)
    limit.take("kiosk 1")
    limit.record("kiosk 1")
    with pytest.raises(RateLimited):
        limit.check("kiosk 1")


def test_a_pin_is_stored_salted_and_checked() -> None:
    first, second = hash_pin("2468"), hash_pin("2468")
    assert first != second and "2468" not in first
    assert pin_matches("2468", first) and pin_matches("2468", second)
    assert not pin_matches("2469", first)
    assert not pin_matches("2468", "plain$2468")
    for bad in ("12", "abcd", "1234567890123", "١٢٣٤", "12 34"):
        with pytest.raises(InvalidPin):
            check_pin_shape(bad)


def test_a_pairing_code_is_read_from_a_pasted_link_or_as_typed() -> None:
    code = "AbCdEfGhIjKlMnOpQrStUvWx"
    assert pairing_code_from(code) == code
    assert pairing_code_from(f"  http://localhost:8080/kiosk/#pair={code}\n") == code
    assert pairing_code_from("http://localhost:8080/kiosk/") is None
    assert pairing_code_from("short") is None
    assert pairing_code_from("<script>alert(1)</script>") is None


def test_card_numbers_and_contacts_are_read_like_the_bot_reads_them() -> None:
    assert card_text(" 4821 0093 1174 ") == "482100931174"
    assert card_text("GW-1234") == "GW-1234"
    assert card_text("https://example.com/x") is None
    assert card_text("123") is None
    assert parse_contact("(202) 555-0188", "US").phone == "+12025550188"
    assert parse_contact("Jane@Example.COM", "US").email == "Jane@example.com"
    for bad in ("12", "jane@", ""):
        with pytest.raises(ContactError):
            parse_contact(bad, "US")


def test_the_kiosk_command_adds_pairs_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "data" / "bot.db"
    monkeypatch.setenv("DATABASE", str(database))
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("KIOSK__STAFF_PIN", raising=False)

    assert main(["kiosk", "add", "--store", "Main Street", "--pin", "12"]) == 2
    assert main(["kiosk", "add", "--store", "Main Street", "--label", "till 2"]) == 0
    printed = capsys.readouterr().out
    [link] = re.findall(r"http://\S+", printed)
    assert link.startswith("http://127.0.0.1:8123/kiosk/#pair=")
    assert "No staff PIN" in printed

    async def pair() -> str | None:
        db = await open_database(database)
        try:
            pairing = KioskPairing(
                Kiosks(db),
                pairing_ttl=dt.timedelta(hours=1),
                clock=lambda: dt.datetime.now(dt.UTC),
            )
            paired = await pairing.pair(link)
            return None if paired is None else paired.key
        finally:
            await db.close()

    assert asyncio.run(pair()) is not None
    assert asyncio.run(pair()) is None, "a pairing link works once"

    assert main(["kiosk", "list"]) == 0
    assert re.search(r"1\s+Main Street \(till 2\)\s+paired", capsys.readouterr().out)
    assert main(["kiosk", "pair", "1"]) == 0
    assert "#pair=" in capsys.readouterr().out
    assert main(["kiosk", "revoke", "1"]) == 0
    assert main(["kiosk", "revoke", "1"]) == 1
    assert main(["kiosk", "pair", "1"]) == 1
    capsys.readouterr()
    assert main(["kiosk", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["kiosk", "log"]) == 0
