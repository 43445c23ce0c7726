"""Invite a friend, from the menu to both bonuses on the platform: credited once each, the
inviter told; a second opening, the inviter's own link and a friend who was already a member
give nothing; the monthly cap holds when twenty friends join through one link at once."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import PIL.Image
import zxingcpp

from bot.config import Settings
from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember
from bot.storage.bonuses import OwedBonuses
from bot.storage.links import BonusState
from tests.rewards.conftest import (
    FRIEND_BONUS,
    INVITE_URL,
    INVITER_BONUS,
    MONTHLY_CAP,
    POINTS,
    marked_credits,
    member_code,
    points,
    referrals,
)
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest, EmailCodeLog, MovableClock, start_bot, stop_bot
from tests.telegram.fake_telegram import Sent

ANNA_PHONE, ANNA = "12025550101", "+12025550101"
BORIS_PHONE, BORIS = "12025550102", "+12025550102"
CARLA_PHONE, CARLA = "12025550103", "+12025550103"
WELCOME = "👋 Welcome to Great Widgets Rewards!"


def decode_qr(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png)))]


def sent_to(app: BotUnderTest, user: TelegramUser, since: int) -> list[Sent]:
    return [sent for sent in app.telegram.sent[since:] if sent.chat_id == user.user.id]


async def invite_token(user: TelegramUser) -> tuple[str, Sent]:
    [invite] = await user.send("🤝 Invite a friend")
    match = INVITE_URL.search(invite.text)
    assert match is not None, invite.text
    return match.group(1), invite


async def test_a_friend_joins_by_phone_both_are_credited_once_and_the_inviter_is_told(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact(ANNA_PHONE)
    anna_code = await member_code(ct_backend, ANNA)

    token, invite = await invite_token(anna)
    url = f"https://t.me/great_widgets_bot?start={token}"
    assert invite.method == "sendPhoto"
    assert invite.photo is not None and decode_qr(invite.photo) == [url]
    assert "you get +50 points and they get +25 points" in invite.text
    assert "Bonuses for up to 3 friends a month." in invite.text
    assert invite.buttons == ["📤 Share"]
    share = invite.reply_markup.inline_keyboard[0][0].url
    assert share.startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fgreat_widgets_bot")
    # The same link every time, and the picture is not uploaded twice.
    again_token, again = await invite_token(anna)
    assert again_token == token and again.photo is None and again.file_id is not None

    boris = app.user(2002, first_name="Boris")
    [welcome] = await boris.send(f"/start {token}")
    assert welcome.text.startswith(WELCOME)
    assert welcome.text.endswith("\n🤝 A friend invited you: join now and get +25 points.")
    before = len(app.telegram.sent)
    [card] = await boris.share_contact(BORIS_PHONE)
    boris_code = await member_code(ct_backend, BORIS)

    assert card.method == "sendPhoto"
    assert card.text.endswith("\n🎁 Invite bonus: +25 points.")
    [told] = sent_to(app, anna, before)
    assert told.text == (
        "🎉 Boris joined Great Widgets Rewards through your invite!\n🎁 +50 points for you."
    )
    assert await points(ct_backend, boris_code) == FRIEND_BONUS
    assert await points(ct_backend, anna_code) == INVITER_BONUS
    assert len(await marked_credits(ct_backend, boris_code, "Invite bonus")) == 1
    assert len(await marked_credits(ct_backend, anna_code, "Invite bonus")) == 1

    # Boris opens Anna's link again: a plain "no bonus", nothing credited, Anna not told.
    before = len(app.telegram.sent)
    [refused, menu] = await boris.send(f"/start {token}")
    assert refused.text == "You're already a member, so this invite gives no bonus."
    assert menu.text == "👋 Welcome back, Boris!"
    assert sent_to(app, anna, before) == []

    # Anna opens her own link.
    [own, menu] = await anna.send(f"/start {token}")
    assert own.text == (
        "That's your own invite link. Share it with friends: you get a bonus when they join."
    )
    assert menu.text == "👋 Welcome back, Anna!"

    # Carla was a member before (by phone): her join through the link gives nothing.
    carla_code = (
        await ct_backend.enroll(
            NewMember(
                code="7000000000000031", first_name="Carla", phone=CARLA, campaign_ids=(POINTS,)
            )
        )
    ).code
    carla = app.user(2003, first_name="Carla")
    [welcome] = await carla.send(f"/start {token}")
    assert welcome.text.startswith(WELCOME)
    before = len(app.telegram.sent)
    [card] = await carla.share_contact(CARLA_PHONE)
    assert "We found your card" in card.text
    assert card.text.endswith("\nYou were already a member, so the invite gives no bonus.")
    assert sent_to(app, anna, before) == []

    assert await points(ct_backend, boris_code) == FRIEND_BONUS
    assert await points(ct_backend, anna_code) == INVITER_BONUS
    assert await points(ct_backend, carla_code) == 0
    assert await marked_credits(ct_backend, carla_code, "Invite bonus") == []
    assert await referrals(app).payer.settle_owed() == 0

    [row] = await referrals(app).stats()
    assert row.inviter_code == anna_code
    assert (row.opened, row.refused, row.joined, row.friend_bonuses, row.inviter_bonuses) == (
        4,
        3,
        1,
        1,
        1,
    )


async def test_an_edited_link_in_the_chat_then_a_join_credits_nothing(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact(ANNA_PHONE)
    anna_code = await member_code(ct_backend, ANNA)
    token, _ = await invite_token(anna)
    edited = token[:-1] + ("A" if token[-1] != "A" else "B")
    boris = app.user(2002, first_name="Boris")
    [welcome] = await boris.send(f"/start {edited}")
    assert welcome.text.startswith(WELCOME)
    before = len(app.telegram.sent)
    [card] = await boris.share_contact(BORIS_PHONE)
    assert "bonus" not in card.text
    assert sent_to(app, anna, before) == []
    assert await points(ct_backend, anna_code) == 0
    assert await points(ct_backend, await member_code(ct_backend, BORIS)) == 0


async def test_the_monthly_cap_holds_when_twenty_friends_join_through_one_link_at_once(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact(ANNA_PHONE)
    anna_code = await member_code(ct_backend, ANNA)
    token, _ = await invite_token(anna)
    friends = [app.user(2100 + n, first_name=f"Friend{n}") for n in range(20)]
    for friend in friends:
        [welcome] = await friend.send(f"/start {token}")
        assert welcome.text.startswith(WELCOME)

    before = len(app.telegram.sent)
    cards = await asyncio.gather(
        *(friend.share_contact(f"1202555{2100 + n:04d}") for n, friend in enumerate(friends))
    )

    assert all(card.method == "sendPhoto" for [card] in cards)
    credited = [card for [card] in cards if card.text.endswith("🎁 Invite bonus: +25 points.")]
    capped = [
        card
        for [card] in cards
        if card.text.endswith("Your friend's invite link has given all its bonuses this month.")
    ]
    assert (len(credited), len(capped)) == (MONTHLY_CAP, 20 - MONTHLY_CAP)
    friend_points = [
        await points(ct_backend, await member_code(ct_backend, f"+1202555{2100 + n:04d}"))
        for n in range(20)
    ]
    assert sorted(friend_points) == [0] * (20 - MONTHLY_CAP) + [FRIEND_BONUS] * MONTHLY_CAP
    assert await points(ct_backend, anna_code) == INVITER_BONUS * MONTHLY_CAP
    assert len(await marked_credits(ct_backend, anna_code, "Invite bonus")) == MONTHLY_CAP
    assert len(sent_to(app, anna, before)) == MONTHLY_CAP
    # Full for the month: the next friend is told at the door.
    late = app.user(2200, first_name="Late")
    [refused, welcome] = await late.send(f"/start {token}")
    assert refused.text.startswith("This invite link has given all its bonuses this month.")
    assert welcome.text.startswith(WELCOME)
    owed = await OwedBonuses(app.db).states("referral:")
    assert list(owed.values()) == [BonusState.CREDITED] * (2 * MONTHLY_CAP)


async def test_a_friend_already_a_member_by_email_gets_nothing_and_a_new_one_by_email_does(
    app: BotUnderTest, ct_backend: ClientToolboxClient, email_codes: EmailCodeLog
) -> None:
    anna = app.user(2001, first_name="Anna")
    await anna.share_contact(ANNA_PHONE)
    anna_code = await member_code(ct_backend, ANNA)
    token, _ = await invite_token(anna)
    known = await ct_backend.enroll(
        NewMember(
            code="7000000000000032",
            first_name="Dora",
            email="dora@example.com",
            campaign_ids=(POINTS,),
        )
    )

    async def join_by_email(user: TelegramUser, email: str) -> Sent:
        await user.send(f"/start {token}")
        await user.send("✉️ Join with email")
        await user.send(email)
        [card] = await user.send(email_codes.last)
        return card

    before = len(app.telegram.sent)
    dora = app.user(2004, first_name="Dora")
    card = await join_by_email(dora, "dora@example.com")
    assert "We found your card" in card.text
    assert card.text.endswith("\nYou were already a member, so the invite gives no bonus.")
    assert await points(ct_backend, known.code) == 0
    assert sent_to(app, anna, before) == []

    emil = app.user(2005, first_name="Emil")
    card = await join_by_email(emil, "emil@example.com")
    assert card.text.endswith("\n🎁 Invite bonus: +25 points.")
    emil_member = await ct_backend.find_member_by_email("emil@example.com")
    assert emil_member is not None and await points(ct_backend, emil_member.code) == FRIEND_BONUS
    [told] = sent_to(app, anna, before)
    assert told.text.startswith("🎉 Emil joined")
    assert await points(ct_backend, anna_code) == INVITER_BONUS


async def test_on_altcraft_both_are_credited_once_and_an_own_link_refused(
    settings: Settings, altcraft_backend: AltcraftClient, tmp_path: Path, clock: MovableClock
) -> None:
    app = await start_bot(settings, altcraft_backend, tmp_path / "bot.db", clock)
    try:
        anna = app.user(2001, first_name="Anna")
        await anna.share_contact(ANNA_PHONE)
        anna_code = await member_code(altcraft_backend, ANNA)
        token, invite = await invite_token(anna)
        assert "you get +50 points and they get +25 points" in invite.text
        boris = app.user(2002, first_name="Boris")
        await boris.send(f"/start {token}")
        before = len(app.telegram.sent)
        [card] = await boris.share_contact(BORIS_PHONE)
        assert card.text.endswith("\n🎁 Invite bonus: +25 points.")
        [told] = sent_to(app, anna, before)
        assert told.text.startswith("🎉 Boris joined")
        [own, _menu] = await anna.send(f"/start {token}")
        assert own.text.startswith("That's your own invite link.")
        await boris.send(f"/start {token}")

        boris_code = await member_code(altcraft_backend, BORIS)
        assert await points(altcraft_backend, boris_code) == FRIEND_BONUS
        assert await points(altcraft_backend, anna_code) == INVITER_BONUS
        assert len(await marked_credits(altcraft_backend, boris_code, "Invite bonus")) == 1
        assert len(await marked_credits(altcraft_backend, anna_code, "Invite bonus")) == 1
    finally:
        await stop_bot(app)
