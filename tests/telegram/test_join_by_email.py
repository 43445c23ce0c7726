"""Joining by email with a one-time code: wrong, right, too many tries, expired, resend."""

from __future__ import annotations

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.telegram.callbacks import ResendCode
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import EmailCodeLog, MovableClock

EMAIL = "jane.doe@example.com"


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def ask_code(
    jane: TelegramUser, email: str = EMAIL, masked: str = "j***@example.com"
) -> None:
    await jane.send("/start")
    [prompt] = await jane.send("✉️ Join with email")
    assert prompt.text == "✉️ Type your email address."
    [sent] = await jane.send(email)
    assert sent.text.startswith(f"We sent a 6-digit code to {masked}. Type it here.")
    assert "Demo mode: no email is sent; the code is in the bot's log." in sent.text


async def test_new_member_by_email_after_a_wrong_then_the_right_code(
    jane: TelegramUser, email_codes: EmailCodeLog, ct_backend: ClientToolboxClient
) -> None:
    await ask_code(jane)
    code = email_codes.last
    [mismatch] = await jane.send(wrong(code))
    assert mismatch.text == "That code doesn't match. 4 tries left."
    assert await ct_backend.find_member_by_email(EMAIL) is None

    [card] = await jane.send(code)
    member = await ct_backend.find_member_by_email(EMAIL)
    assert member is not None
    assert card.method == "sendPhoto"
    assert card.text.startswith("✅ You're in, Jane! Your card number is")
    # The code is used up: typing it again is just text, not a second join.
    [after] = await jane.send(code)
    assert after.text.startswith("I didn't catch that.")


async def test_a_bad_address_is_asked_again(jane: TelegramUser) -> None:
    await jane.send("✉️ Join with email")
    [answer] = await jane.send("jane at example")
    assert answer.text.startswith("That doesn't look like an email address.")


async def test_five_wrong_tries_use_up_the_code(
    jane: TelegramUser, email_codes: EmailCodeLog, ct_backend: ClientToolboxClient
) -> None:
    await ask_code(jane)
    code = email_codes.last
    answers = [(await jane.send(wrong(code)))[0].text for _ in range(5)]
    assert answers[:4] == [
        "That code doesn't match. 4 tries left.",
        "That code doesn't match. 3 tries left.",
        "That code doesn't match. 2 tries left.",
        "That code doesn't match. 1 try left.",
    ]
    assert answers[4] == "That's too many wrong tries for this code."
    [refused] = await jane.send(code)
    assert refused.text == "That's too many wrong tries for this code."
    assert refused.buttons == ["Send a new code"]
    assert await ct_backend.find_member_by_email(EMAIL) is None

    [resent] = await jane.press("Send a new code")
    assert resent.text.startswith("We sent a new code to j***@example.com.")
    new_code = email_codes.last
    [card] = await jane.send(new_code)
    assert card.method == "sendPhoto"
    assert await ct_backend.find_member_by_email(EMAIL) is not None


async def test_an_expired_code_offers_a_new_one(
    jane: TelegramUser,
    email_codes: EmailCodeLog,
    clock: MovableClock,
    ct_backend: ClientToolboxClient,
) -> None:
    await ask_code(jane)
    code = email_codes.last
    clock.advance(minutes=10, seconds=1)
    [expired] = await jane.send(code)
    assert expired.text == "That code has expired."
    assert expired.buttons == ["Send a new code"]
    assert await ct_backend.find_member_by_email(EMAIL) is None
    await jane.press("Send a new code")
    assert len(email_codes.codes) == 2
    [card] = await jane.send(email_codes.last)
    assert card.method == "sendPhoto"


async def test_resends_are_limited(jane: TelegramUser, email_codes: EmailCodeLog) -> None:
    await ask_code(jane)
    resend = ResendCode().pack()
    for _ in range(3):
        [resent] = await jane.press_data(resend)
        assert resent.text.startswith("We sent a new code")
    assert len(set(email_codes.codes)) >= 2
    [limit] = await jane.press_data(resend)
    assert limit.text.startswith("You've asked for several codes already.")
    # Typing the address again is no way around the limit.
    [again] = await jane.send(EMAIL)
    assert again.text.startswith("You've asked for several codes already.")


async def test_existing_member_found_by_email(
    jane: TelegramUser, email_codes: EmailCodeLog
) -> None:
    # John Smith of the sandbox's demo account.
    await ask_code(jane, "JSmith@WorkEmail.com", masked="J***@workemail.com")
    [card] = await jane.send(email_codes.last)
    assert card.text.startswith("✅ You're in, John! We found your card:")
    assert "1111 2222" in card.text
