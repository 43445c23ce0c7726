"""Personal links: one tap links an existing member's Telegram, once, to the right member."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import Member, NewMember
from bot.storage.links import LinkRepository
from bot.storage.members import MemberLinks
from tests.links.conftest import POINTS, signup_links
from tests.telegram.conftest import BotUnderTest, MovableClock

WELCOME = "👋 Welcome to Great Widgets Rewards!"


async def existing_member(
    backend: ClientToolboxClient, code: str, first_name: str, phone: str
) -> Member:
    return await backend.enroll(
        NewMember(code=code, first_name=first_name, phone=phone, campaign_ids=(POINTS,))
    )


async def test_a_personal_link_links_the_member_with_no_code_and_only_once(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = await existing_member(ct_backend, "7100000000000001", "Anna", "+12025550111")
    await existing_member(ct_backend, "7100000000000002", "Boris", "+12025550112")
    link = await signup_links(app).personal(anna.code)
    assert link.personal and link.max_uses == 1

    tapper = app.user(5001, first_name="Anna")
    [card] = await tapper.send(f"/start {link.token}")

    assert card.method == "sendPhoto"
    assert card.text.startswith("✅ You're in, Anna! We found your card:")
    assert "💳 My card" in card.keyboard
    linked = await MemberLinks(app.db).get(5001)
    assert linked is not None and linked.member_code == anna.code
    assert linked.card_number == anna.card_number
    [again] = await tapper.send(f"/start {link.token}")
    assert again.text == "👋 Welcome back, Anna!"

    # Forwarded to someone else, the used link does nothing.
    other = app.user(5002, first_name="Mallory")
    [welcome] = await other.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    assert await MemberLinks(app.db).get(5002) is None
    stored = await signup_links(app).get(link.token)
    assert stored is not None and stored.uses == 1
    attribution = await LinkRepository(app.db).attribution(anna.code)
    assert attribution is not None and attribution[0].source == "personal"


async def test_two_accounts_tapping_one_personal_link_at_once_link_one(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = await existing_member(ct_backend, "7100000000000003", "Anna", "+12025550113")
    link = await signup_links(app).personal(anna.code)
    users = [app.user(5100 + n, first_name="Anna") for n in range(4)]
    answers = await asyncio.gather(*(user.send(f"/start {link.token}") for user in users))
    cards = [answer for [answer] in answers if answer.method == "sendPhoto"]
    assert len(cards) == 1
    linked = [await MemberLinks(app.db).get(user.user.id) for user in users]
    assert [entry.member_code for entry in linked if entry is not None] == [anna.code]


async def test_a_member_already_linked_elsewhere_is_not_taken_over(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = await existing_member(ct_backend, "7100000000000004", "Anna", "+12025550114")
    owner = app.user(5201, first_name="Anna")
    await owner.share_contact("12025550114")
    link = await signup_links(app).personal(anna.code)

    stranger = app.user(5202, first_name="Mallory")
    [welcome] = await stranger.send(f"/start {link.token}")

    assert welcome.text.startswith(WELCOME)
    assert await MemberLinks(app.db).get(5202) is None
    still = await MemberLinks(app.db).get(5201)
    assert still is not None and still.member_code == anna.code
    stored = await signup_links(app).get(link.token)
    assert stored is not None and stored.uses == 0


async def test_someone_already_in_keeps_their_own_card(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna = await existing_member(ct_backend, "7100000000000005", "Anna", "+12025550115")
    boris = app.user(5301, first_name="Boris")
    await boris.share_contact("12025550116")
    mine = await MemberLinks(app.db).get(5301)
    assert mine is not None
    link = await signup_links(app).personal(anna.code)

    [menu] = await boris.send(f"/start {link.token}")

    assert menu.text == "👋 Welcome back, Boris!"
    after = await MemberLinks(app.db).get(5301)
    assert after is not None and after.member_code == mine.member_code
    stored = await signup_links(app).get(link.token)
    assert stored is not None and stored.uses == 0


async def test_an_expired_personal_link_gets_the_plain_welcome(
    app: BotUnderTest, ct_backend: ClientToolboxClient, clock: MovableClock
) -> None:
    anna = await existing_member(ct_backend, "7100000000000006", "Anna", "+12025550117")
    link = await signup_links(app).personal(anna.code, expires_at=clock.now + dt.timedelta(days=7))
    clock.advance(days=8)
    user = app.user(5401, first_name="Anna")
    [welcome] = await user.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    assert await MemberLinks(app.db).get(5401) is None


async def test_a_personal_link_of_a_member_gone_from_the_platform_links_nobody(
    app: BotUnderTest,
) -> None:
    link = await signup_links(app).personal("7199999999999999")
    user = app.user(5501, first_name="Anna")
    [welcome] = await user.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    assert await MemberLinks(app.db).get(5501) is None
    stored = await signup_links(app).get(link.token)
    assert stored is not None and stored.uses == 0
