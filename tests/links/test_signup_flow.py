"""A signup link from poster to card: opened in the chat, joined, bonus credited on the
platform exactly once; opening it again, forgetting and re-joining credit nothing more."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember
from bot.services.signup_links import LinkOutcome, StatsGrouping
from bot.storage.links import LinkRepository
from tests.links.conftest import (
    GIFT_CARD,
    POINTS,
    bonus_transactions,
    points,
    signup_links,
)
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest, EmailCodeLog, MovableClock

PHONE = "12025550143"
E164 = "+12025550143"
WELCOME = "👋 Welcome to Great Widgets Rewards!"


async def member_code(backend: ClientToolboxClient, phone: str = E164) -> str:
    member = await backend.find_member_by_phone(phone)
    assert member is not None, f"no member with {phone} on the platform"
    return member.code


async def test_create_open_join_credits_the_bonus_once_on_the_platform(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    links = signup_links(app)
    link = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25))

    [welcome] = await jane.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    assert welcome.keyboard == ["📱 Join with my phone", "✉️ Join with email"]
    [card] = await jane.share_contact(PHONE)

    assert card.method == "sendPhoto"
    assert card.text.startswith("✅ You're in, Jane!")
    assert card.text.endswith("\n🎁 Welcome bonus: +25 points.")
    code = await member_code(ct_backend)
    assert await points(ct_backend, code) == 25
    assert await bonus_transactions(ct_backend, code) == ["Auto add."]
    # The member joined every campaign as usual, the link's campaign first among them.
    member = await ct_backend.get_member(code)
    assert member is not None and POINTS in member.campaign_ids

    # Opening the link again after joining: the menu, nothing credited, no use taken.
    [again] = await jane.send(f"/start {link.token}")
    assert again.text == "👋 Welcome back, Jane!"
    assert "💳 My card" in again.keyboard
    assert await points(ct_backend, code) == 25
    assert await bonus_transactions(ct_backend, code) == ["Auto add."]
    stored = await links.get(link.token)
    assert stored is not None and stored.uses == 1

    attribution = await LinkRepository(app.db).attribution(code)
    assert attribution is not None
    assert (attribution[0].token, attribution[0].source, attribution[0].campaign_id) == (
        link.token,
        "poster",
        POINTS,
    )
    [row] = [row for row in await links.stats() if row.token == link.token]
    assert (row.opened, row.refused, row.already_members, row.signups, row.bonuses) == (
        2,
        0,
        1,
        1,
        1,
    )


async def test_an_existing_member_found_by_phone_gets_the_bonus_as_one_earn(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    existing = await ct_backend.enroll(
        NewMember(code="7000000000000007", first_name="Janet", phone=E164, campaign_ids=(POINTS,))
    )
    link = await signup_links(app).create(campaign_id=POINTS, source="email", bonus=Decimal(40))

    await jane.send(f"/start {link.token}")
    [card] = await jane.share_contact(PHONE)

    assert "We found your card" in card.text
    assert card.text.endswith("\n🎁 Welcome bonus: +40 points.")
    assert await points(ct_backend, existing.code) == 40
    [credit] = await bonus_transactions(ct_backend, existing.code)
    assert credit.startswith("Signup bonus #")


async def test_a_gift_card_bonus_is_money_on_the_card(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    link = await signup_links(app).create(
        campaign_id=GIFT_CARD, source="instagram", bonus=Decimal("5.50")
    )
    await jane.send(f"/start {link.token}")
    [card] = await jane.share_contact(PHONE)
    assert card.text.endswith("\n🎁 Welcome bonus: +$5.50.")
    code = await member_code(ct_backend)
    [gift] = [b for b in await ct_backend.balances(code) if b.campaign_id == GIFT_CARD]
    assert gift.money.amount == Decimal("5.50")  # type: ignore[union-attr]


async def test_forget_and_join_again_through_the_same_link_credits_nothing_more(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    link = await signup_links(app).create(campaign_id=POINTS, source="poster", bonus=Decimal(25))
    await jane.send(f"/start {link.token}")
    await jane.share_contact(PHONE)
    code = await member_code(ct_backend)
    [question] = await jane.send("/forget")
    await jane.press("Yes, forget me", on=question)
    assert await LinkRepository(app.db).attribution(code) is None

    [welcome] = await jane.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    [card] = await jane.share_contact(PHONE)
    assert "We found your card" in card.text
    assert "bonus" not in card.text
    assert await points(ct_backend, code) == 25
    assert await bonus_transactions(ct_backend, code) == ["Auto add."]
    # The second join is counted as a signup of the link all the same.
    stored = await signup_links(app).get(link.token)
    assert stored is not None and stored.uses == 2


async def test_joining_by_email_keeps_the_link_through_the_code_step(
    app: BotUnderTest,
    jane: TelegramUser,
    ct_backend: ClientToolboxClient,
    email_codes: EmailCodeLog,
) -> None:
    link = await signup_links(app).create(campaign_id=POINTS, source="email", bonus=Decimal(10))
    await jane.send(f"/start {link.token}")
    await jane.send("✉️ Join with email")
    await jane.send("jane@example.com")
    [card] = await jane.send(email_codes.last)
    assert card.method == "sendPhoto"
    member = await ct_backend.find_member_by_email("jane@example.com")
    assert member is not None
    assert await points(ct_backend, member.code) == 10


async def test_a_link_without_a_bonus_records_campaign_and_source_only(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    link = await signup_links(app).create(campaign_id=None, source="store:downtown")
    await jane.send(f"/start {link.token}")
    await jane.share_contact(PHONE)
    code = await member_code(ct_backend)
    assert await points(ct_backend, code) == 0
    assert await bonus_transactions(ct_backend, code) == []
    attribution = await LinkRepository(app.db).attribution(code)
    assert attribution is not None and attribution[0].source == "store:downtown"


async def test_the_last_link_opened_before_joining_is_the_one_that_counts(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    links = signup_links(app)
    poster = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25))
    email = await links.create(campaign_id=POINTS, source="email", bonus=Decimal(50))
    await jane.send(f"/start {poster.token}")
    await jane.send(f"/start {email.token}")
    await jane.share_contact(PHONE)
    code = await member_code(ct_backend)
    assert await points(ct_backend, code) == 50
    by_source = {row.source: row for row in await links.stats(StatsGrouping.SOURCE)}
    assert by_source["poster"].opened == 1 and by_source["poster"].signups == 0
    assert by_source["email"].signups == 1


async def test_expired_and_disabled_links_get_the_plain_welcome_and_no_bonus(
    app: BotUnderTest, ct_backend: ClientToolboxClient, clock: MovableClock
) -> None:
    links = signup_links(app)
    expiring = await links.create(
        campaign_id=POINTS,
        source="flyer",
        bonus=Decimal(25),
        expires_at=clock.now + dt.timedelta(days=1),
    )
    disabled = await links.create(campaign_id=POINTS, source="email", bonus=Decimal(25))
    assert await links.disable(disabled.token) is not None
    clock.advance(days=1)

    for user_id, phone, token in (
        (2001, "12025550101", expiring.token),
        (2002, "12025550102", disabled.token),
    ):
        user = app.user(user_id, first_name="Ann")
        [welcome] = await user.send(f"/start {token}")
        assert welcome.text.startswith(WELCOME)
        [card] = await user.share_contact(phone)
        assert card.method == "sendPhoto"
        code = await member_code(ct_backend, f"+{phone}")
        assert await points(ct_backend, code) == 0
        assert await bonus_transactions(ct_backend, code) == []
        assert await LinkRepository(app.db).attribution(code) is None

    rows = {row.token: row for row in await links.stats()}
    assert (rows[expiring.token].refused, rows[expiring.token].signups) == (1, 0)
    assert (rows[disabled.token].refused, rows[disabled.token].signups) == (1, 0)


async def test_a_link_expiring_between_opening_and_joining_pays_nothing(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient, clock: MovableClock
) -> None:
    links = signup_links(app)
    link = await links.create(
        campaign_id=POINTS,
        source="flyer",
        bonus=Decimal(25),
        expires_at=clock.now + dt.timedelta(hours=1),
    )
    [welcome] = await jane.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    clock.advance(hours=2)
    await jane.share_contact(PHONE)
    code = await member_code(ct_backend)
    assert await points(ct_backend, code) == 0
    # The opening is recounted as what it turned out to be.
    [row] = [row for row in await links.stats() if row.token == link.token]
    assert (row.opened, row.refused, row.signups) == (1, 1, 0)


async def test_every_payload_is_counted_with_its_outcome(
    app: BotUnderTest, jane: TelegramUser
) -> None:
    links = signup_links(app)
    link = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25))
    edited = link.token[:-1] + ("A" if link.token[-1] != "A" else "B")
    for payload in (link.token, edited, "hello", "x" * 64):
        [welcome] = await jane.send(f"/start {payload}")
        assert welcome.text.startswith(WELCOME)
    rows = {row.source: row for row in await links.stats(StatsGrouping.SOURCE)}
    assert rows["poster"].opened == 1 and rows["poster"].refused == 0
    assert rows["(forged or unknown)"].opened == 3
    assert rows["(forged or unknown)"].refused == 3


async def test_the_bot_learns_its_username_at_start_up(app: BotUnderTest) -> None:
    links = signup_links(app)
    assert links.bot_username == ""
    await app.dispatcher.emit_startup(bot=app.bot, **app.dispatcher.workflow_data)
    link = await links.create(campaign_id=None, source="poster")
    assert links.url(link) == f"https://t.me/rewards_bot?start={link.token}"


async def test_store_links_are_made_once_per_store(app: BotUnderTest) -> None:
    links = signup_links(app)
    downtown = await links.store_link("downtown")
    assert downtown.source == "store:downtown" and downtown.campaign_id is None
    assert (await links.store_link("downtown")).token == downtown.token
    assert (await links.store_link("airport")).token != downtown.token
    await links.disable(downtown.token)
    replacement = await links.store_link("downtown")
    assert replacement.token != downtown.token and not replacement.disabled


async def test_a_store_link_made_by_hand_is_the_one_the_kiosk_shows(app: BotUnderTest) -> None:
    links = signup_links(app)
    made = await links.create(campaign_id=POINTS, source="store:mall", bonus=Decimal(10))
    assert (await links.store_link("mall")).token == made.token


async def test_opening_a_link_counts_outcomes_for_members_too(
    app: BotUnderTest, jane: TelegramUser
) -> None:
    links = signup_links(app)
    link = await links.create(campaign_id=POINTS, source="poster")
    opening = await links.open(5005, link.token, member_code="1000000000000001")
    assert opening.outcome is LinkOutcome.MEMBER
    assert await LinkRepository(app.db).visit(5005) is None


async def rows_naming_user(app: BotUnderTest, user_id: int) -> dict[str, int]:
    counts = {}
    for table in ("link_attempts", "link_visits", "link_signups"):
        row = await app.db.fetch_one(
            f"SELECT count(*) FROM {table} WHERE telegram_user_id = ?", (user_id,)
        )
        assert row is not None
        counts[table] = row[0]
    return counts


async def test_forget_erases_the_users_link_data_and_keeps_the_counts(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    links = signup_links(app)
    poster = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25))
    email = await links.create(campaign_id=POINTS, source="email")
    await jane.send(f"/start {poster.token}")
    await jane.share_contact(PHONE)
    await jane.send(f"/start {email.token}")
    visitor = app.user(1002, first_name="Vic")
    await visitor.send(f"/start {email.token}")
    assert await rows_naming_user(app, jane.user.id) == {
        "link_attempts": 2,
        "link_visits": 0,
        "link_signups": 1,
    }
    assert (await rows_naming_user(app, 1002))["link_visits"] == 1

    for user in (jane, visitor):
        [question] = await user.send("/forget")
        await user.press("Yes, forget me", on=question)

    for user_id in (jane.user.id, 1002):
        assert await rows_naming_user(app, user_id) == dict.fromkeys(
            ("link_attempts", "link_visits", "link_signups"), 0
        )
    code = await member_code(ct_backend)
    assert await LinkRepository(app.db).attribution(code) is None
    rows = {row.source: row for row in await links.stats(StatsGrouping.SOURCE)}
    assert (rows["poster"].opened, rows["poster"].signups, rows["poster"].bonuses) == (1, 1, 1)
    assert (rows["email"].opened, rows["email"].already_members) == (2, 1)
