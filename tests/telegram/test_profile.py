"""Profile: view, first and last name, birthday in friendly forms, email with a new code."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import Member
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import EmailCodeLog, MovableClock

PHONE = "12025550143"


async def join(jane: TelegramUser, ct_backend: ClientToolboxClient) -> Member:
    await jane.share_contact(PHONE)
    member = await ct_backend.find_member_by_phone(f"+{PHONE}")
    assert member is not None
    await jane.send("👤 Profile")
    return member


async def test_profile_view(jane: TelegramUser, ct_backend: ClientToolboxClient) -> None:
    member = await join(jane, ct_backend)
    [profile] = await jane.send("/profile")
    assert profile.text.splitlines()[:6] == [
        "👤 Your profile",
        "",
        "Name: Jane Doe",
        "Phone: +1 202-555-0143",
        "Email: not set",
        "Birthday: not set",
    ]
    assert member.card_number[:4] in profile.text
    assert "🗑 Forget me" in profile.buttons


async def test_first_and_last_name(jane: TelegramUser, ct_backend: ClientToolboxClient) -> None:
    member = await join(jane, ct_backend)
    [prompt] = await jane.press("✏️ First name")
    assert prompt.text == "Type your first name."
    [saved] = await jane.send("  Janie   <b>  ")
    assert saved.text.startswith("✅ Saved.")
    assert "Name: Janie &lt;b&gt; Doe" in saved.text
    await jane.press("✏️ Last name")
    [refused] = await jane.send("1234")
    assert refused.text == "That doesn't look like a name. Please type it again."
    await jane.send("Smith-Jones")
    updated = await ct_backend.get_member(member.code)
    assert updated is not None
    assert (updated.first_name, updated.last_name) == ("Janie <b>", "Smith-Jones")
    # The card shows the new first name: it is drawn and uploaded again.
    [card] = await jane.send("💳 My card")
    assert card.photo is not None


@pytest.mark.parametrize(
    "typed",
    ["1970-07-14", "14.07.1970", "14/07/1970", "July 14 1970", "1970-7-14", "14 июля 1970"],
)
async def test_birthday_forms(
    jane: TelegramUser, ct_backend: ClientToolboxClient, typed: str
) -> None:
    member = await join(jane, ct_backend)
    await jane.press("🎂 Birthday")
    [saved] = await jane.send(typed)
    assert "Birthday: Jul 14, 1970" in saved.text
    updated = await ct_backend.get_member(member.code)
    assert updated is not None and updated.birthday == dt.date(1970, 7, 14)


async def test_future_and_absurd_birthdays_are_refused(
    jane: TelegramUser, ct_backend: ClientToolboxClient, clock: MovableClock
) -> None:
    member = await join(jane, ct_backend)
    await jane.press("🎂 Birthday")
    next_year = clock().year + 1
    [future] = await jane.send(f"01.01.{next_year}")
    assert future.text == "That date is in the future. Please check the year."
    [ancient] = await jane.send("01.01.1850")
    assert ancient.text == "That date is too long ago. Please check the year."
    [unreadable] = await jane.send("sometime in spring")
    assert unreadable.text.startswith("I couldn't read that date.")
    updated = await ct_backend.get_member(member.code)
    assert updated is not None and updated.birthday is None


async def test_email_change_needs_the_new_code(
    jane: TelegramUser, ct_backend: ClientToolboxClient, email_codes: EmailCodeLog
) -> None:
    member = await join(jane, ct_backend)
    await jane.press("✉️ Email")
    [sent] = await jane.send("new.jane@example.org")
    assert sent.text.startswith("We sent a 6-digit code to n***@example.org.")
    [wrong] = await jane.send("000000" if email_codes.last != "000000" else "111111")
    assert wrong.text == "That code doesn't match. 4 tries left."
    unchanged = await ct_backend.get_member(member.code)
    assert unchanged is not None and unchanged.email == ""

    answers = await jane.send(email_codes.last)
    assert answers[0].text == "✅ new.jane@example.org is confirmed."
    assert "Email: new.jane@example.org" in answers[1].text
    updated = await ct_backend.get_member(member.code)
    assert updated is not None and updated.email == "new.jane@example.org"


async def test_menu_buttons_leave_an_edit(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    member = await join(jane, ct_backend)
    await jane.press("✏️ First name")
    [balance] = await jane.send("⭐ Balance")
    assert balance.text.startswith("⭐ Your balances")
    [other] = await jane.send("Whatever")
    assert other.text.startswith("I didn't catch that.")
    updated = await ct_backend.get_member(member.code)
    assert updated is not None and updated.first_name == "Jane"
