"""The birthday job with an injected clock, on both platforms: a greeting and a bonus once on
the day (from the configured hour, in the shop's time zone), nothing more after a restart the
same day or with the birthday moved to the next day, once again the next year; two replicas
running the job at once give one treat."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from bot.config import Settings
from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import NewMember
from bot.services.birthdays import birthday_month_days
from bot.storage.birthdays import BirthdayBook
from bot.telegram.member_messages import send_birthday_greetings
from bot.telegram.rewards import Rewards
from tests.rewards.conftest import BIRTHDAY_BONUS, marked_credits, member_code, points
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot
from tests.telegram.fake_telegram import Sent

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
PHONE, E164 = "12025550143", "+12025550143"
GREETING = (
    "🎂 Happy birthday, Jane!\n"
    "Everyone at Great Widgets Rewards wishes you a wonderful day.\n"
    "🎁 Your birthday treat: +100 points."
)


def at(year: int, month: int, day: int, hour: int) -> dt.datetime:
    """A moment given in the shop's time zone (Madrid), as the UTC clock shows it."""
    return dt.datetime(year, month, day, hour, tzinfo=MADRID).astimezone(dt.UTC)


async def run_job(app: BotUnderTest) -> tuple[int, list[Sent]]:
    rewards: Rewards = app.dispatcher["rewards"]
    settings: Settings = app.dispatcher["settings"]
    before = len(app.telegram.sent)
    given = await send_birthday_greetings(
        app.dispatcher["outbox"],
        app.bot,
        app.dispatcher["i18n"],
        rewards.treats,
        program_name=settings.program_name,
    )
    return given, app.telegram.sent[before:]


async def set_birthday(user: TelegramUser, typed: str) -> None:
    await user.send("👤 Profile")
    await user.press("🎂 Birthday")
    [saved] = await user.send(typed)
    assert "Birthday:" in saved.text


@pytest.fixture(params=["clienttoolbox", "altcraft"])
def platform(
    request: pytest.FixtureRequest, ct_backend: LoyaltyBackend, altcraft_backend: AltcraftClient
) -> LoyaltyBackend:
    return ct_backend if request.param == "clienttoolbox" else altcraft_backend


async def test_once_on_the_day_not_again_after_a_restart_or_a_moved_birthday_once_next_year(
    settings: Settings,
    platform: LoyaltyBackend,
    tmp_path: Path,
    clock: MovableClock,
) -> None:
    clock.now = at(2027, 3, 9, 12)
    db_path = tmp_path / "bot.db"
    app = await start_bot(settings, platform, db_path, clock)
    try:
        jane = app.user(1001, first_name="Jane")
        if platform.platform == "altcraft":
            # Already on the platform, birthday and all: the job reads it there.
            await platform.enroll(
                NewMember(
                    code="7000000000000041",
                    first_name="Jane",
                    phone=E164,
                    birthday=dt.date(1990, 3, 10),
                )
            )
            [card] = await jane.share_contact(PHONE)
            assert "We found your card" in card.text
        else:
            # Given in the bot's profile.
            await jane.share_contact(PHONE)
            await set_birthday(jane, "10.03.1990")
        code = await member_code(platform, E164)

        assert await run_job(app) == (0, [])
        assert await BirthdayBook(app.db).birthday(code) == dt.date(1990, 3, 10)

        # On the day, before the configured hour (9:00 in Madrid): nothing yet.
        clock.now = at(2027, 3, 10, 8)
        assert await run_job(app) == (0, [])

        clock.now = at(2027, 3, 10, 9)
        given, sent = await run_job(app)
        assert given == 1
        assert [(message.chat_id, message.text) for message in sent] == [(1001, GREETING)]
        assert await points(platform, code) == BIRTHDAY_BONUS
        assert len(await marked_credits(platform, code, "Birthday treat")) == 1

        clock.advance(hours=3)
        assert await run_job(app) == (0, [])
    finally:
        await stop_bot(app)

    # A restart the same day: a new process on the same database sends nothing twice.
    app = await start_bot(settings, platform, db_path, clock)
    try:
        jane.rewire(app.dispatcher, app.bot, app.telegram)
        clock.advance(hours=2)
        assert await run_job(app) == (0, [])

        # Moved to the next day: no second treat in the same year.
        await set_birthday(jane, "11.03.1990")
        clock.now = at(2027, 3, 11, 10)
        assert await run_job(app) == (0, [])
        assert await points(platform, code) == BIRTHDAY_BONUS

        # The next year, once again.
        clock.now = at(2028, 3, 11, 10)
        given, sent = await run_job(app)
        assert given == 1
        assert [(message.chat_id, message.text) for message in sent] == [(1001, GREETING)]
        assert await run_job(app) == (0, [])
        assert await points(platform, code) == 2 * BIRTHDAY_BONUS
        assert len(await marked_credits(platform, code, "Birthday treat")) == 2
        assert await BirthdayBook(app.db).treats(code) == [2027, 2028]
    finally:
        await stop_bot(app)


async def test_two_replicas_running_the_job_at_once_give_one_treat(
    settings: Settings, ct_backend: LoyaltyBackend, tmp_path: Path, clock: MovableClock
) -> None:
    clock.now = at(2027, 7, 14, 11)
    db_path = tmp_path / "shared.db"
    first = await start_bot(settings, ct_backend, db_path, clock)
    second = await start_bot(settings, ct_backend, db_path, clock)
    try:
        jane = first.user(1001, first_name="Jane")
        await jane.share_contact(PHONE)
        await set_birthday(jane, "1985-07-14")
        code = await member_code(ct_backend, E164)

        results = await asyncio.gather(run_job(first), run_job(second))

        assert sorted(given for given, _ in results) == [0, 1]
        greetings = [message for _, sent in results for message in sent]
        assert [message.chat_id for message in greetings] == [1001]
        assert await points(ct_backend, code) == BIRTHDAY_BONUS
    finally:
        await stop_bot(first)
        await stop_bot(second)


async def test_a_greeting_in_the_members_language_without_a_bonus_when_none_is_set(
    ct_backend: LoyaltyBackend, tmp_path: Path, clock: MovableClock
) -> None:
    from tests.rewards.conftest import rewards_settings

    plain = rewards_settings()
    plain.birthday.bonus = None
    clock.now = at(2027, 7, 14, 11)
    app = await start_bot(plain, ct_backend, tmp_path / "bot.db", clock)
    try:
        jane = app.user(1001, first_name="Jane")
        await jane.share_contact(PHONE)
        await set_birthday(jane, "1985-07-14")
        [choice] = await jane.send("🌐 Language")
        await jane.press("Español", on=choice)

        given, [greeting] = await run_job(app)

        assert given == 1
        assert greeting.text == (
            "🎂 ¡Feliz cumpleaños, Jane!\n"
            "Todo el equipo de Great Widgets Rewards te desea un día maravilloso."
        )
        assert await points(ct_backend, await member_code(ct_backend, E164)) == 0
    finally:
        await stop_bot(app)


def test_a_29_february_birthday_is_kept_on_28_february_in_common_years() -> None:
    assert birthday_month_days(dt.date(2027, 2, 28)) == ["02-28", "02-29"]
    assert birthday_month_days(dt.date(2028, 2, 28)) == ["02-28"]
    assert birthday_month_days(dt.date(2028, 2, 29)) == ["02-29"]
    assert birthday_month_days(dt.date(2027, 3, 1)) == ["03-01"]
