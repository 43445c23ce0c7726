"""The email code policy: random, hashed at rest, expiring, attempt- and resend-limited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import pytest

from bot.services.verification import (
    CheckStatus,
    CodeMail,
    DeliveryFailed,
    EmailVerification,
    ResendStatus,
    TooManyCodes,
    code_matches,
    hash_code,
    new_code,
)
from bot.storage.database import Database, open_database
from bot.storage.verification import EmailCodes

USER = 7
EMAIL = "jane@example.com"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class Outbox:
    demo = False

    def __init__(self) -> None:
        self.mails: list[CodeMail] = []
        self.fail = False

    async def send(self, mail: CodeMail) -> None:
        if self.fail:
            raise DeliveryFailed("SMTP refused")
        self.mails.append(mail)

    @property
    def last_code(self) -> str:
        return self.mails[-1].code


def compose(email: str, code: str) -> CodeMail:
    return CodeMail(to=email, code=code, subject="Your code", body=f"Your code is {code}.")


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    database = await open_database(":memory:")
    yield database
    await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def verification(db: Database, clock: Clock, outbox: Outbox) -> EmailVerification:
    return EmailVerification(EmailCodes(db, clock=clock), outbox, clock=clock)


def test_codes_are_six_random_digits() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert len(codes) > 190


def test_hashes_are_salted_and_checkable() -> None:
    first, second = hash_code("123456"), hash_code("123456")
    assert first != second and "123456" not in first
    assert code_matches("123456", first) and code_matches("123456", second)
    assert not code_matches("123457", first)
    assert not code_matches("123456", "garbage")


async def test_the_code_is_stored_only_hashed(
    verification: EmailVerification, db: Database, outbox: Outbox
) -> None:
    await verification.start(USER, EMAIL, compose)
    row = await db.fetch_one("SELECT * FROM email_codes WHERE telegram_user_id = ?", (USER,))
    assert row is not None
    assert outbox.last_code not in " ".join(str(value) for value in tuple(row))


async def test_right_code_verifies_once(verification: EmailVerification, outbox: Outbox) -> None:
    await verification.start(USER, EMAIL, compose)
    result = await verification.check(USER, f" {outbox.last_code[:3]} {outbox.last_code[3:]} ")
    assert (result.status, result.email) == (CheckStatus.VERIFIED, EMAIL)
    assert (await verification.check(USER, outbox.last_code)).status is CheckStatus.NO_CODE


async def test_five_tries_then_locked(verification: EmailVerification, outbox: Outbox) -> None:
    await verification.start(USER, EMAIL, compose)
    wrong = "000000" if outbox.last_code != "000000" else "111111"
    results = [await verification.check(USER, wrong) for _ in range(5)]
    assert [r.tries_left for r in results[:4]] == [4, 3, 2, 1]
    assert results[4].status is CheckStatus.TOO_MANY_TRIES
    locked = await verification.check(USER, outbox.last_code)
    assert locked.status is CheckStatus.TOO_MANY_TRIES and locked.can_resend


async def test_codes_expire_after_ten_minutes(
    verification: EmailVerification, outbox: Outbox, clock: Clock
) -> None:
    await verification.start(USER, EMAIL, compose)
    clock.now += dt.timedelta(minutes=9, seconds=59)
    code = outbox.last_code
    assert (await verification.check(USER, "000000" if code != "000000" else "1")).status is (
        CheckStatus.WRONG
    )
    clock.now += dt.timedelta(seconds=1)
    assert (await verification.check(USER, code)).status is CheckStatus.EXPIRED


async def test_a_resent_code_replaces_the_old_one_and_resends_are_limited(
    verification: EmailVerification, outbox: Outbox, clock: Clock
) -> None:
    await verification.start(USER, EMAIL, compose)
    old = outbox.last_code
    for left in (2, 1, 0):
        result = await verification.resend(USER, compose)
        assert (result.status, result.resends_left) == (ResendStatus.SENT, left)
    assert (await verification.resend(USER, compose)).status is ResendStatus.LIMIT_REACHED
    with pytest.raises(TooManyCodes):
        await verification.start(USER, EMAIL, compose)
    if old != outbox.last_code:
        assert (await verification.check(USER, old)).status is CheckStatus.WRONG
    assert (await verification.check(USER, outbox.last_code)).status is CheckStatus.VERIFIED
    # A new round opens once the first code of the round would have expired.
    await verification.start(USER, EMAIL, compose)
    for _ in range(3):
        await verification.resend(USER, compose)
    clock.now += dt.timedelta(minutes=10)
    await verification.start(USER, EMAIL, compose)


async def test_a_failed_delivery_leaves_no_code(
    verification: EmailVerification, outbox: Outbox
) -> None:
    outbox.fail = True
    with pytest.raises(DeliveryFailed):
        await verification.start(USER, EMAIL, compose)
    assert await verification.pending_email(USER) is None
