"""An invite bonus the platform did not confirm is paid exactly once later: a request that never
arrived is sent again, one that took effect but lost its answer is found in the history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import HttpSettings, Settings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.storage.bonuses import OwedBonuses
from bot.storage.links import BonusState
from bot.telegram.member_messages import resend_inviter_notices
from bot.telegram.pending_joins import finish_pending_joins
from tests.conftest import ct_settings
from tests.links.test_bonus_failures import FlakyPlatform
from tests.rewards.conftest import (
    FRIEND_BONUS,
    INVITER_BONUS,
    marked_credits,
    member_code,
    points,
    referrals,
)
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot
from tests.telegram.test_resilience import set_fault


@pytest.fixture
async def flaky(
    settings: Settings, ct_sandbox_url: str, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[tuple[BotUnderTest, FlakyPlatform]]:
    transport = FlakyPlatform()
    backend = ClientToolboxClient(ct_settings(ct_sandbox_url), HttpSettings(), transport=transport)
    running = await start_bot(settings, backend, tmp_path / "bot.db", clock)
    try:
        yield running, transport
    finally:
        await stop_bot(running)
        await backend.aclose()


@pytest.mark.parametrize("how", ["refuse", "lose"])
async def test_a_friends_bonus_in_doubt_is_paid_once_later(
    flaky: tuple[BotUnderTest, FlakyPlatform],
    ct_backend: ClientToolboxClient,
    how: str,
) -> None:
    app, platform = flaky
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact("12025550101")
    anna_code = await member_code(ct_backend, "+12025550101")
    token = await referrals(app).invite_token(anna_code)
    boris = app.user(2002, first_name="Boris")
    await boris.send(f"/start {token}")
    # The friend's bonus is paid first: its request fails, the inviter's goes through.
    platform.fail_next("record_activity", how)

    [card] = await boris.share_contact("12025550102")

    boris_code = await member_code(ct_backend, "+12025550102")
    assert card.text.endswith("\n🎁 Your invite bonus of +25 points is on its way.")
    owed = await OwedBonuses(app.db).states("referral:")
    assert sorted(owed.values()) == [BonusState.CREDITED, BonusState.DOUBT]
    assert await points(ct_backend, boris_code) == (FRIEND_BONUS if how == "lose" else 0)
    assert await points(ct_backend, anna_code) == INVITER_BONUS

    # The background round (or the next start) checks the history, then pays what is missing.
    assert await referrals(app).payer.settle_owed() == 1
    assert await referrals(app).payer.settle_owed() == 0

    assert await points(ct_backend, boris_code) == FRIEND_BONUS
    assert len(await marked_credits(ct_backend, boris_code, "Invite bonus")) == 1
    assert await points(ct_backend, anna_code) == INVITER_BONUS
    owed = await OwedBonuses(app.db).states("referral:")
    assert list(owed.values()) == [BonusState.CREDITED, BonusState.CREDITED]


async def test_a_friends_join_taken_while_the_platform_was_down_pays_both_once_later(
    app: BotUnderTest, ct_backend: ClientToolboxClient, ct_sandbox_url: str, clock: MovableClock
) -> None:
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact("12025550101")
    [choice] = await anna.send("🌐 Language")
    await anna.press("Русский", on=choice)
    anna_code = await member_code(ct_backend, "+12025550101")
    token = await referrals(app).invite_token(anna_code)
    boris = app.user(2002, first_name="Boris")
    await boris.send(f"/start {token}")

    await set_fault(ct_sandbox_url, error_status=503)
    [told] = await boris.share_contact("12025550102")
    assert told.text.startswith("We can't reach the rewards system right now.")
    clock.advance(minutes=2)
    await set_fault(ct_sandbox_url)
    before = len(app.telegram.sent)
    assert await finish_pending_joins(app.bot, app.dispatcher) == 1
    assert await finish_pending_joins(app.bot, app.dispatcher) == 0

    sent = {message.chat_id: message.text for message in app.telegram.sent[before:]}
    assert sent[boris.user.id].endswith("\n🎁 Invite bonus: +25 points.")
    assert sent[anna.user.id] == (
        "🎉 Boris вступил(а) в Great Widgets Rewards по вашему приглашению!\n🎁 Вам +50 баллов."
    )
    boris_code = await member_code(ct_backend, "+12025550102")
    assert await points(ct_backend, boris_code) == FRIEND_BONUS
    assert await points(ct_backend, anna_code) == INVITER_BONUS


async def test_an_inviter_notice_its_process_never_handed_over_goes_out_once_later(
    app: BotUnderTest,
    ct_backend: ClientToolboxClient,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact("12025550101")
    anna_code = await member_code(ct_backend, "+12025550101")
    token = await referrals(app).invite_token(anna_code)
    boris = app.user(2002, first_name="Boris")
    await boris.send(f"/start {token}")

    async def died_before_telling(*args: object, **kwargs: object) -> None:
        return None

    # The process dies right after the friend's card: the notice is claimed, never queued.
    with monkeypatch.context() as patched:
        patched.setattr("bot.telegram.routers.start.tell_inviter", died_before_telling)
        before = len(app.telegram.sent)
        await boris.share_contact("12025550102")
    assert [sent.chat_id for sent in app.telegram.sent[before:]] == [boris.user.id]

    async def resend() -> int:
        return await resend_inviter_notices(
            app.dispatcher["outbox"],
            app.bot,
            app.dispatcher["i18n"],
            referrals(app),
            program_name="Great Widgets Rewards",
        )

    assert await resend() == 0  # claimed moments ago: its process may still be at it
    clock.advance(minutes=6)
    before = len(app.telegram.sent)
    assert await resend() == 1
    assert await resend() == 0
    clock.advance(minutes=6)
    assert await resend() == 0
    [told] = app.telegram.sent[before:]
    assert told.chat_id == anna.user.id
    assert told.text == (
        "🎉 Boris joined Great Widgets Rewards through your invite!\n🎁 +50 points for you."
    )
